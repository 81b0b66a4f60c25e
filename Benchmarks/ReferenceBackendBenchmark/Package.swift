// swift-tools-version: 6.0
// The reference backend's benchmark: a package of its own so that `swift build` and `swift test`
// in the main package never compile it. Build and run from this folder (release):
//   swift build -c release
//   .build/release/ReferenceBackendBenchmark --help
// See RESULTS.md here for every figure and the command that produced it.
import PackageDescription

let package = Package(
    name: "ReferenceBackendBenchmark",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "FleetSim", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .executableTarget(name: "ReferenceBackendBenchmark", dependencies: [
            .product(name: "ReferenceBackend", package: "FleetSim"),
            .product(name: "DeviceModel", package: "FleetSim"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
