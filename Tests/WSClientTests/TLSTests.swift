import Foundation
import NIOCore
import NIOSSL
import Testing
@testable import WSClient

/// A self-signed certificate for `localhost` only (no IP SAN: NIOSSL accepts an IP SAN matching
/// the peer address whatever the host name), made with the openssl CLI once per run.
enum SelfSigned {
    struct Material { var certFile: String; var keyFile: String }

    static let material: Material? = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("wsclient-tls-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                       "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost",
                       "-addext", "subjectAltName=DNS:localhost"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        p.waitUntilExit()
        return p.terminationStatus == 0 ? Material(certFile: cert, keyFile: key) : nil
    }()

    static func serverContext() throws -> NIOSSLContext {
        let m = try #require(material, "the openssl CLI is needed to make a test certificate")
        let config = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(m.certFile).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: m.keyFile, format: .pem)))
        return try NIOSSLContext(configuration: config)
    }
}

@Suite(.tags(.network)) struct TLSTests {
    func run(_ configure: (inout WSConfiguration) -> Void, host: String = "localhost") async throws -> (RecordingDelegate, TestServer) {
        let server = try TestServer(tls: SelfSigned.serverContext())
        let d = RecordingDelegate()
        d.onOpen = { $0.send(text: "over tls") }
        try makeClient(configure).connect(to: server.endpoint(host: host), delegate: d)
        await eventually { d.cause != nil || !d.texts.isEmpty }
        return (d, server)
    }

    @Test func aSelfSignedServerIsRejectedByDefault() async throws {
        let (d, server) = try await run { _ in }
        defer { server.stop() }
        guard case .tlsVerify = d.cause else { Issue.record("\(String(describing: d.cause))"); return }
        #expect(!d.opened)
    }

    @Test func theCAFileMakesTheServerTrusted() async throws {
        let ca = try #require(SelfSigned.material).certFile
        let (d, server) = try await run { $0.tls.caFile = ca }
        defer { server.stop() }
        #expect(d.texts == ["over tls"])
        #expect(d.cause == nil)
    }

    @Test func insecureSkipsVerification() async throws {
        let (d, server) = try await run { $0.tls.insecure = true }
        defer { server.stop() }
        #expect(d.texts == ["over tls"])
    }

    @Test func aWrongHostNameIsRejectedEvenWithTheCA() async throws {
        let ca = try #require(SelfSigned.material).certFile
        let (d, server) = try await run({ $0.tls.caFile = ca; $0.tls.serverName = "gateway.example.com" })
        defer { server.stop() }
        guard case .tlsVerify = d.cause else { Issue.record("\(String(describing: d.cause))"); return }
    }

    @Test func tlsTimingsAreRecorded() async throws {
        let ca = try #require(SelfSigned.material).certFile
        let server = try TestServer(tls: SelfSigned.serverContext())
        defer { server.stop() }
        let d = RecordingDelegate()
        d.onOpen = { $0.close() }
        try makeClient { $0.tls.caFile = ca }.connect(to: server.endpoint(host: "localhost"), delegate: d)
        #expect(await d.closed() == .normal)
        let t = try #require(d.timings)
        #expect(t.tcpConnected != nil && t.tlsDone != nil && t.upgraded != nil)
        #expect(t.tlsDone! >= t.tcpConnected! && t.upgraded! >= t.tlsDone!)
    }
}
