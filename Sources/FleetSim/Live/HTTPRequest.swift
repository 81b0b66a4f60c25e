import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A small blocking HTTP/1.1 client for the live runner's side traffic: scraping `/metrics`,
/// the embedded backend's `/admin`, `/healthz`, and hooks. One request per connection
/// (`Connection: close`), plain HTTP only, with a deadline. Runs on the coordinator's thread,
/// never on an event loop.
enum HTTPRequest {
    struct Response: Sendable {
        var status: Int
        var body: String
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// `url`: `http://host:port/path`.
    static func send(_ method: String, _ url: String, headers: [(String, String)] = [], body: String = "",
                     timeout: Double = 5) throws -> Response {
        guard url.hasPrefix("http://") else { throw Failure(description: "\(url): only http:// URLs are supported here") }
        let rest = url.dropFirst(7)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        let path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var host = String(authority), port = 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            host = String(authority[..<colon])
            guard let p = Int(authority[authority.index(after: colon)...]) else { throw Failure(description: "\(url): bad port") }
            port = p
        }
        host = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))

        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else {
            throw Failure(description: "\(url): cannot resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { throw Failure(description: "\(url): socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw Failure(description: "\(url): cannot connect: \(String(cString: strerror(errno)))")
        }
        var request = "\(method) \(path) HTTP/1.1\r\nHost: \(authority)\r\nConnection: close\r\n"
        for (k, v) in headers { request += "\(k): \(v)\r\n" }
        request += "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw Failure(description: "\(url): write failed: \(String(cString: strerror(errno)))") }
            sent += n
        }
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { break }
            guard n > 0 else { throw Failure(description: "\(url): no complete answer within \(timeout) s") }
            data += buffer[0..<n]
            if data.count > 16 << 20 { throw Failure(description: "\(url): answer over 16 MiB") }
        }
        let text = String(decoding: data, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { throw Failure(description: "\(url): malformed HTTP answer") }
        let statusLine = text[..<headEnd.lowerBound].split(separator: "\r\n").first ?? ""
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw Failure(description: "\(url): malformed status line") }
        var bodyText = String(text[headEnd.upperBound...])
        if text[..<headEnd.lowerBound].lowercased().contains("transfer-encoding: chunked") { bodyText = dechunk(bodyText) }
        return Response(status: status, body: bodyText)
    }

    private static func dechunk(_ s: String) -> String {
        var out = "", rest = Substring(s)
        while let eol = rest.range(of: "\r\n") {
            guard let size = Int(rest[..<eol.lowerBound].trimmingCharacters(in: .whitespaces), radix: 16), size > 0 else { break }
            let start = eol.upperBound
            let chunk = rest.utf8[start...].prefix(size)
            out += String(decoding: chunk, as: UTF8.self)
            rest = Substring(rest.utf8[rest.utf8.index(start, offsetBy: size)...]).dropFirst(2)
        }
        return out
    }
}
