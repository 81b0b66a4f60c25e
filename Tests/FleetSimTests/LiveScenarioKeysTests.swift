import DeviceModel
import FleetSim
import Foundation
import Testing

/// The keys `fleetsim run` reads (`target`, `time_scale`, `observe`, a profile's `protocol`):
/// read as written, and every mistake one line with its position.
@Suite struct LiveScenarioKeysTests {
    static let base = """
        version: 1
        name: live-keys
        duration: 1h
        profiles:
          p: {}
        fleet:
          - { name: g, count: 10, firmware: 3.7.2, profile: p }
        backend:
          gateways: { count: 1 }
          database: { cores: 1, rows: 10 }
        """

    func load(_ yaml: String) throws -> Scenario { try ScenarioLoader.load(yaml: yaml, path: "t.yaml") }

    func failure(_ yaml: String) -> String {
        do { _ = try load(yaml); return "loaded" } catch { return "\(error)" }
    }

    @Test func targetTimeScaleAndObserveAreRead() throws {
        let s = try load(Self.base + """

            target: { url: "wss://cloud.example/device", headers: { Authorization: { env: FLEET_TOKEN } } }
            time_scale: 4
            observe: ["http://127.0.0.1:9100/metrics"]
            """)
        #expect(s.live.target == "wss://cloud.example/device")
        #expect(s.live.headers.map(\.name) == ["Authorization"] && s.live.headers.map(\.variable) == ["FLEET_TOKEN"])
        #expect(s.live.timeScale == 4)
        #expect(s.live.observe == ["http://127.0.0.1:9100/metrics"])
    }

    @Test func withATargetTheBackendMayBeLeftOut() throws {
        let yaml = Self.base.components(separatedBy: "backend:")[0] + "target: ws://127.0.0.1:9/device\n"
        #expect(try load(yaml).live.target == "ws://127.0.0.1:9/device")
        #expect(failure(Self.base.components(separatedBy: "backend:")[0]).contains("missing required key \"backend\""))
    }

    @Test func aTargetThatIsNotAWebSocketURLIsRefusedWhereItIsWritten() {
        #expect(failure(Self.base + "\ntarget: http://x/device") == "t.yaml:11:9: target: expected a ws:// or wss:// URL, got \"http://x/device\"")
    }

    @Test func aHeaderValueWrittenInTheFileIsRefused() {
        let message = failure(Self.base + "\ntarget: { url: ws://x/d, headers: { Authorization: \"Bearer abc\" } }")
        #expect(message.hasPrefix("t.yaml:11:"))
        #expect(message.contains("header values come from the environment"))
    }

    @Test func hooksAreReadPerAction() throws {
        let s = try load(Self.base + """

            hooks:
              block: { http: "PUT https://admin.example/firmware/{firmware}", token_env: ADMIN_TOKEN, body: '{"at": "{at}"}' }
              restart-gateways: { shell: "kubectl rollout restart deploy/gw-{gateway}", timeout: 2m }
            """)
        #expect(s.live.hooks["block"] == Scenario.Hook(call: .http(method: "PUT", url: "https://admin.example/firmware/{firmware}",
                                                                 body: "{\"at\": \"{at}\"}", tokenVariable: "ADMIN_TOKEN"),
                                                        timeout: 30 * Time.second))
        #expect(s.live.hooks["restart-gateways"]?.timeout == 2 * Time.minute)
        #expect(Scenario.Hook.fill("x {firmware} {\"a\": 1} {nope}", ["firmware": ">=1.0"]) == "x >=1.0 {\"a\": 1} {nope}")
    }

    @Test(arguments: [
        ("hooks:\n  add-devices: { shell: x }", "t.yaml:12:3: hooks.add-devices: add-devices is carried out by the devices themselves and takes no hook"),
        ("hooks:\n  reboot: { shell: x }", "t.yaml:12:3: hooks.reboot: no timeline action \"reboot\" takes a hook"),
        ("hooks:\n  block: { http: \"FETCH http://x/\" }", "t.yaml:12:18: hooks.block.http: expected \"METHOD URL\""),
        ("hooks:\n  block: { http: \"ftp://x/\" }", "t.yaml:12:18: hooks.block.http: expected an http:// or https:// URL"),
        ("hooks:\n  block: { http: \"http://x/{cores}\" }", "t.yaml:12:18: hooks.block.http: {cores} is not a value of block"),
        ("hooks:\n  block: { shell: x, http: \"http://x/\" }", "hooks.block.shell: a hook is either http or shell, not both"),
        ("hooks:\n  block: { shell: x, token_env: T }", "hooks.block.token_env: applies to http hooks only"),
        ("hooks:\n  block: { timeout: 5s }", "t.yaml:12:10: hooks.block: a hook needs http"),
    ])
    func aBadHookIsOneLineNamingWhere(yaml: String, message: String) {
        let got = failure(Self.base + "\n" + yaml)
        #expect(got.contains(message), "\(got)")
    }

    @Test func aTimeScaleOutOfRangeIsRefused() {
        #expect(failure(Self.base + "\ntime_scale: 0").hasPrefix("t.yaml:11:13: time_scale:"))
        #expect(failure(Self.base + "\ntime_scale: 20000").contains("expected a time scale ≤ 10000"))
    }

    @Test func anObserveURLMustBeHTTP() {
        #expect(failure(Self.base + "\nobserve: [\"ws://x\"]").contains("expected an http:// URL of a Prometheus endpoint"))
    }

    @Test func aProtocolProfileOverridesTheDefaultPartByPart() throws {
        let yaml = Self.base.replacingOccurrences(of: "p: {}", with: "p: { protocol: { heartbeat: \"PING {seq}\", ack: \"PONG {seq}\" } }")
        let p = try #require(try load(yaml).profiles["p"]?.protocolSpec)
        #expect(p.heartbeat.text == "PING {seq}")
        #expect(p.ack == .pattern("PONG {seq}"))
        #expect(p.hello == DeviceProtocol.default.hello)
        #expect(p.interpret("PONG 7", outstanding: 7) == .ack(seq: 7))
    }

    @Test func aBadTemplateOrKeyInAProtocolIsOneLineWithItsPosition() {
        let badPlaceholder = Self.base.replacingOccurrences(of: "p: {}", with: "p: { protocol: { hello: \"HI {serial}\" } }")
        #expect(failure(badPlaceholder).contains("unknown placeholder {serial}; use {uuid}, {firmware} or {seq}"))
        #expect(failure(badPlaceholder).hasPrefix("t.yaml:5:"))
        let badKey = Self.base.replacingOccurrences(of: "p: {}", with: "p: { protocol: { helo: \"HI\" } }")
        #expect(failure(badKey).contains("helo"))
    }
}
