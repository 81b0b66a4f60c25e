// swift-tools-version: 6.0
// An example of another team's package that depends on FleetSim by version, as any Swift package
// would, and uses two of its libraries: LoadReport (read a FleetSim report, evaluate thresholds)
// and DeviceModel (a device's reconnect policy). See README.md.
//
// FLEETSIM_PACKAGE_URL names where FleetSim comes from; by default its public address. `.ci/run`
// points it at a bare clone of this repository, tagged with a version, so CI resolves FleetSim
// exactly as a dependent package would.
import PackageDescription

let fleetsim = Context.environment["FLEETSIM_PACKAGE_URL"] ?? "https://github.com/fleetsim/fleetsim"

let package = Package(
    name: "ReportGate",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(url: fleetsim, from: "0.1.0"),
    ],
    targets: [
        .executableTarget(name: "ReportGate", dependencies: [
            .product(name: "LoadReport", package: "fleetsim"),
            .product(name: "DeviceModel", package: "fleetsim"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)
