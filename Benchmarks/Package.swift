// swift-tools-version: 6.3
// Benchmarks live in their own package so that `swift test` in the main package never builds
// package-benchmark and its dependencies. Run from this folder:
//   swift package benchmark --target SimulationBenchmarks
import PackageDescription

let package = Package(
    name: "FleetSimBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "FleetSim", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "SimulationBenchmarks",
            dependencies: [
                .product(name: "FleetSim", package: "FleetSim"),
                .product(name: "DeviceModel", package: "FleetSim"),
                .product(name: "LoadReport", package: "FleetSim"),
                .product(name: "Benchmark", package: "benchmark"),
            ],
            path: "Benchmarks/SimulationBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]),
    ]
)
