// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "FleetSim",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fleetsim", targets: ["FleetSimCLI"]),
        .library(name: "DeviceModel", targets: ["DeviceModel"]),
        .library(name: "LoadReport", targets: ["LoadReport"]),
        .library(name: "FleetSim", targets: ["FleetSim"]),
        .library(name: "WSClient", targets: ["WSClient"]),
        .library(name: "ReferenceBackend", targets: ["ReferenceBackend"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .target(name: "DeviceModel"),
        .target(name: "LoadReport", dependencies: [
            .product(name: "Histogram", package: "hdrhistogram-swift"),
        ]),
        .target(name: "CFleetSimSupport"),
        .target(name: "FleetSim", dependencies: [
            "DeviceModel", "LoadReport", "CFleetSimSupport", "WSClient",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "Yams", package: "Yams"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        // A thin module over the system libsqlite3 (Debian: libsqlite3-dev): the reference backend
        // needs one connection per database worker and prepared statements, nothing more.
        .systemLibrary(name: "CSQLite", path: "Sources/ReferenceBackend/CSQLite",
                       providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "ReferenceBackend", dependencies: [
            "DeviceModel", "CSQLite",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], exclude: ["CSQLite"]),
        .executableTarget(name: "FleetSimCLI", dependencies: [
            "FleetSim", "DeviceModel", "LoadReport", "ReferenceBackend",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .systemLibrary(name: "CWSZlib", path: "Sources/CWSZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .target(name: "WSClient", dependencies: [
            "CWSZlib",
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "WSClientTests", dependencies: [
            "WSClient",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),
        .testTarget(name: "DeviceModelTests", dependencies: ["DeviceModel"]),
        .testTarget(name: "LoadReportTests", dependencies: ["LoadReport"]),
        .testTarget(name: "ReferenceBackendTests", dependencies: [
            "ReferenceBackend", "DeviceModel", "CSQLite",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),
        .testTarget(name: "FleetSimTests", dependencies: ["FleetSim", "DeviceModel", "LoadReport", "ReferenceBackend"],
                    resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)
