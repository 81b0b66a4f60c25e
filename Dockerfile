# FleetSim in a container: the image deploy/kubernetes/ runs (`fleetsim run --shard auto/N` in each
# pod of an Indexed Job, `fleetsim report merge` in the collector).
#
#   docker build -t ghcr.io/fleetsim/fleetsim:latest .
#   docker run --rm ghcr.io/fleetsim/fleetsim:latest fleetsim --help
#
# Stage 1 builds the release binary with the Swift toolchain image; stage 2 runs it on the slim
# Swift image (the Swift runtime and Foundation, no compiler) with the two system libraries the
# binary links: SQLite (the embedded reference backend) and zlib (permessage-deflate).
FROM swift:6.1-noble AS build
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libsqlite3-dev zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product fleetsim \
 && install -D "$(swift build -c release --show-bin-path)/fleetsim" /out/fleetsim

FROM swift:6.1-noble-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libsqlite3-0 zlib1g ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/fleetsim /usr/local/bin/fleetsim
COPY scenarios /usr/share/fleetsim/scenarios
# Not root: a load generator needs no privilege (the sysctls it wants are set per pod).
RUN useradd --system --uid 10001 --create-home fleetsim
USER 10001
WORKDIR /home/fleetsim
CMD ["fleetsim", "--help"]
