import FleetSim
import Foundation
import Testing
import Yams

/// Shards as a Kubernetes Indexed Job runs them: `--shard auto/N` from `JOB_COMPLETION_INDEX`, the
/// manifests under `deploy/kubernetes/`, and N processes whose merged report is the whole run's.
@Suite struct ShardDeployTests {
    static let deploy = ScenarioRuns.repository.appendingPathComponent("deploy/kubernetes")

    // MARK: The index

    @Test func autoTakesTheShardFromTheJobCompletionIndex() throws {
        let env = ["JOB_COMPLETION_INDEX": "3"]
        #expect(try FleetPlan.Shard(argument: "auto/16", environment: env) == FleetPlan.Shard(index: 3, count: 16))
        #expect(try FleetPlan.Shard(argument: "2/4", environment: env) == FleetPlan.Shard(index: 2, count: 4))
        func reason(_ text: String, _ env: [String: String]) -> String {
            do { _ = try FleetPlan.Shard(argument: text, environment: env); return "" } catch { return "\(error)" }
        }
        #expect(reason("auto/16", [:]).contains("JOB_COMPLETION_INDEX, which is not set"))
        #expect(reason("auto/3", env) == "JOB_COMPLETION_INDEX=\"3\" is not a shard of auto/3: expected 0…2 (the Job's completions must be 3)")
        #expect(reason("auto/4", ["JOB_COMPLETION_INDEX": "x"]).contains("is not a shard of auto/4"))
        #expect(reason("auto/0", env).contains("expected auto/n with n ≥ 1"))
        #expect(reason("4/4", env).contains("expected i/n with 0 ≤ i < n"))
    }

    // MARK: The manifests

    /// Every document of every manifest, by kind.
    static func documents() throws -> [(file: String, doc: [String: Any])] {
        let files = try FileManager.default.contentsOfDirectory(atPath: deploy.path).filter { $0.hasSuffix(".yaml") }.sorted()
        #expect(files.count >= 5)
        return try files.flatMap { f in
            let text = try String(contentsOf: deploy.appendingPathComponent(f), encoding: .utf8)
            return try Yams.load_all(yaml: text).compactMap { $0 as? [String: Any] }.map { (f, $0) }
        }
    }

    static func job(_ docs: [(file: String, doc: [String: Any])], component: String) throws -> [String: Any] {
        let jobs = docs.map(\.doc).filter { ($0["kind"] as? String) == "Job" }
        return try #require(jobs.first { (($0["metadata"] as? [String: Any])?["labels"] as? [String: Any])?["app.kubernetes.io/component"] as? String == component })
    }

    static func pod(_ job: [String: Any]) -> [String: Any] {
        ((job["spec"] as! [String: Any])["template"] as! [String: Any])["spec"] as! [String: Any]
    }

    @Test func theManifestsNameTheRightImageIndexVolumeAndScenario() throws {
        let docs = try Self.documents()
        for (file, doc) in docs {
            #expect(doc["apiVersion"] is String && doc["kind"] is String, "\(file)")
            if (doc["kind"] as? String) != "Namespace" {
                #expect((doc["metadata"] as? [String: Any])?["namespace"] as? String == "fleetsim", "\(file)")
            }
        }
        let shards = try Self.job(docs, component: "shard"), collector = try Self.job(docs, component: "collector")
        let spec = shards["spec"] as! [String: Any]
        #expect(spec["completionMode"] as? String == "Indexed")
        let n = try #require(spec["completions"] as? Int)
        #expect(spec["parallelism"] as? Int == n, "the shards are one fleet: all at once")
        let shardPod = Self.pod(shards), collectorPod = Self.pod(collector)
        let shardContainer = (shardPod["containers"] as! [[String: Any]])[0]
        let collectorContainer = (collectorPod["containers"] as! [[String: Any]])[0]
        let args = (shardContainer["args"] as! [String]).joined(separator: " ")
        #expect(args.hasPrefix("exec fleetsim run "), "fleetsim is PID 1 and gets the kubelet's SIGTERM")
        #expect(args.contains("--shard auto/\(n) "))
        #expect(args.contains("--out /reports/shard-$JOB_COMPLETION_INDEX "))
        #expect(args.contains("/scenario/fleet.yaml"))
        // One image, one volume for both Jobs.
        #expect(shardContainer["image"] as? String == collectorContainer["image"] as? String)
        func claim(_ pod: [String: Any], mountedAt path: String, in container: [String: Any]) -> String? {
            let mounts = container["volumeMounts"] as! [[String: Any]]
            guard let name = mounts.first(where: { $0["mountPath"] as? String == path })?["name"] as? String else { return nil }
            let volume = (pod["volumes"] as! [[String: Any]]).first { $0["name"] as? String == name }
            return (volume?["persistentVolumeClaim"] as? [String: Any])?["claimName"] as? String
        }
        let pvc = try #require(docs.first { ($0.doc["kind"] as? String) == "PersistentVolumeClaim" }?.doc)
        let pvcName = (pvc["metadata"] as! [String: Any])["name"] as? String
        #expect(claim(shardPod, mountedAt: "/reports", in: shardContainer) == pvcName)
        #expect(claim(collectorPod, mountedAt: "/reports", in: collectorContainer) == pvcName)
        #expect(((pvc["spec"] as! [String: Any])["accessModes"] as? [String]) == ["ReadWriteMany"])
        // The collector waits for as many reports as there are shards, and merges them.
        let env = (collectorContainer["env"] as! [[String: Any]]).reduce(into: [String: String]()) { $0[$1["name"] as! String] = $1["value"] as? String }
        #expect(env["SHARDS"] == String(n))
        #expect((collectorContainer["args"] as! [String]).joined().contains("exec fleetsim report merge $inputs"))
        #expect(collector["spec"].flatMap { ($0 as? [String: Any])?["backoffLimit"] as? Int } == 0, "the exit code is the verdict")
        // The pods' SIGTERM leaves time for the report; the volume is writable by the image's user.
        #expect((shardPod["terminationGracePeriodSeconds"] as? Int ?? 30) >= 30)
        for pod in [shardPod, collectorPod] { #expect((pod["securityContext"] as? [String: Any])?["fsGroup"] as? Int == 10001) }
        // The scenario in the ConfigMap is one fleetsim loads, and it is what the shards mount.
        let map = try #require(docs.first { ($0.doc["kind"] as? String) == "ConfigMap" }?.doc)
        let yaml = try #require((map["data"] as? [String: Any])?["fleet.yaml"] as? String)
        let scenario = try ScenarioLoader.load(yaml: yaml, path: "10-scenario.yaml:fleet.yaml")
        #expect(scenario.live.target?.hasPrefix("wss://") == true)
        let scenarioVolume = (shardPod["volumes"] as! [[String: Any]]).first { ($0["configMap"] as? [String: Any])?["name"] as? String == (map["metadata"] as! [String: Any])["name"] as? String }
        #expect(scenarioVolume != nil)
        // Requests sized per shard from the measured memory per device (deploy/README.md).
        let devices = scenario.fleet.map(\.count).reduce(0, +) / n
        let requests = (shardContainer["resources"] as! [String: Any])["requests"] as! [String: Any]
        let mib = Int((requests["memory"] as! String).dropLast(2))!
        #expect(Double(mib) >= Double(devices) * 5.4 / 1024 + 42, "\(devices) devices a shard")
    }

    @Test func theImageRunsWhatTheJobsCall() throws {
        let text = try String(contentsOf: ScenarioRuns.repository.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let package = try String(contentsOf: ScenarioRuns.repository.appendingPathComponent("Package.swift"), encoding: .utf8)
        // The build stage installs what Package.swift's system libraries name; the runtime their libraries.
        for lib in ["libsqlite3-dev", "zlib1g-dev"] {
            #expect(package.contains("\"\(lib)\""))
            #expect(text.contains(lib))
        }
        #expect(text.contains("libsqlite3-0") && text.contains("zlib1g "))
        #expect(text.components(separatedBy: "\nFROM ").count == 3, "two stages")
        #expect(text.contains("COPY --from=build /out/fleetsim /usr/local/bin/fleetsim"))
        #expect(text.contains("USER 10001"))
    }

    /// `kubectl` parses the manifests (client-side, through kustomize: no cluster here).
    @Test(.enabled(if: ShardDeployTests.kubectl != nil)) func kubectlParsesTheManifests() throws {
        let dir = NSTemporaryDirectory() + "fleetsim-kustomize-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.deploy.path).filter { $0.hasSuffix(".yaml") }.sorted()
        for f in files { try FileManager.default.copyItem(atPath: Self.deploy.appendingPathComponent(f).path, toPath: dir + "/" + f) }
        try ("resources:\n" + files.map { "  - \($0)\n" }.joined()).write(toFile: dir + "/kustomization.yaml", atomically: true, encoding: .utf8)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.kubectl!)
        p.arguments = ["kustomize", dir]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(errors)")
        #expect(text.contains("completionMode: Indexed") && text.contains("kind: PersistentVolumeClaim"))
    }

    static let kubectl: String? = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"].first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// N processes started as an Indexed Job starts them (`JOB_COMPLETION_INDEX=0…N−1`, `--shard
/// auto/N`), merged, give the devices and connects of one run of the whole fleet.
@Suite(.serialized, .tags(.slow, .network)) struct IndexedShardRunTests {
    let cli = CommandLineTests()

    /// A healthy fleet: every device connects once and stays.
    static let fleet = """
        version: 1
        name: indexed-shards
        seed: 11
        duration: 8s
        interval: 2s
        profiles:
          p: { lookup: indexed, heartbeat: 3s, handshake_timeout: 6s, ack_timeout: 6s,
               reconnect: { policy: full-jitter, base: 1s, cap: 4s } }
        fleet:
          - { name: all, count: 301, firmware: 3.9.1, profile: p, join: { ramp: 2s } }
        backend:
          gateways: { count: 1, memory_limit: 4GiB }
          database: { cores: 2, rows: 5000, indexed_cost: 1ms, heartbeat_cost: 1ms }
        thresholds:
          connects: ["count >= 301"]
        """

    @Test func shardsFromTheJobIndexMergeIntoTheWholeRun() throws {
        let dir = NSTemporaryDirectory() + "fleetsim-indexed-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Self.fleet.write(toFile: dir + "/s.yaml", atomically: true, encoding: .utf8)
        let whole = try cli.fleetsim(["run", dir + "/s.yaml", "--out", dir + "/whole", "-q"])
        #expect(whole.status == 0, "\(whole.stderr)")
        for k in 0..<2 {
            let r = try cli.fleetsim(["run", dir + "/s.yaml", "--shard", "auto/2", "--out", dir + "/shard-\(k)", "-q"],
                                     environment: ["JOB_COMPLETION_INDEX": String(k)])
            // Alone, a shard fails the fleet's threshold (it has half the devices): the gate is the merge's.
            #expect(r.status == 1, "\(r.stderr)")
        }
        let merged = try cli.fleetsim(["report", "merge", dir + "/shard-0/report.json", dir + "/shard-1/report.json",
                                       "-o", dir + "/merged.json", "-q"])
        #expect(merged.status == 0, "\(merged.stderr)")
        func summary(_ path: String) throws -> [String: Any] {
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
            return json["summary"] as! [String: Any]
        }
        let one = try summary(dir + "/whole/report.json"), both = try summary(dir + "/merged.json")
        #expect(one["devices"] as? Int == 301 && both["devices"] as? Int == 301)
        #expect(one["connects"] as? Int == 301 && both["connects"] as? Int == 301)
        let shard0 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/shard-0/report.json"))) as! [String: Any]
        #expect(shard0["shard"] as? String == "0/2" && (shard0["summary"] as! [String: Any])["devices"] as? Int == 151)

        // One shard's report alone: the merge names the missing one and exits 3.
        let partial = try cli.fleetsim(["report", "merge", dir + "/shard-1/report.json", "-o", dir + "/partial.json", "-q"])
        #expect(partial.status == 3)
        let partialJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/partial.json"))) as! [String: Any]
        #expect(partialJSON["incomplete"] as? String == "1 of 2 shards missing (0/2): the merged report covers the other 1")

        // An index that is not a shard of auto/N: one line naming it, exit 2, nothing run.
        let outside = try cli.fleetsim(["run", dir + "/s.yaml", "--shard", "auto/2", "--out", dir + "/x", "-q"],
                                     environment: ["JOB_COMPLETION_INDEX": "2"])
        #expect(outside.status == 2)
        #expect(outside.stderr.contains("--shard: JOB_COMPLETION_INDEX=\"2\" is not a shard of auto/2"), "\(outside.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/x/report.json"))
    }
}
