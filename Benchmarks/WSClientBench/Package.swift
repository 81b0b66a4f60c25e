// swift-tools-version: 6.0
// WSClient benchmarks: a package of their own so that `swift test` in the main package never
// builds them. Build and run from this folder (release):
//   swift build -c release
//   .build/release/WSClientBench server --port 9101 &
//   .build/release/WSClientBench idle --url ws://127.0.0.1:9101/ --connections 15000 --sources 2-9
// See README.md here for every figure and the command that produced it.
import PackageDescription

let package = Package(
    name: "WSClientBench",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "FleetSim", path: "../.."),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .executableTarget(name: "WSClientBench", dependencies: [
            .product(name: "WSClient", package: "FleetSim"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        // The live runner's timers: its timer wheel against NIO scheduled tasks (see main.swift).
        .executableTarget(name: "TimerBench", dependencies: [
            .product(name: "FleetSim", package: "FleetSim"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
    ],
    swiftLanguageModes: [.v5]
)
