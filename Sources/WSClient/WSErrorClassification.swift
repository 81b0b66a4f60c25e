import NIOCore
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// How a failed connection's error becomes its `WSCloseCause`: socket errors (refused, reset, out of
/// file descriptors or ports), NIO channel errors, and TLS handshake and verification failures.
extension WSConnectionHandler {
    /// Maps an error to a cause; nil when the error is not itself a reason (e.g. a TLS peer that
    /// closed TCP without close_notify after the close handshake).
    static func classify(_ error: Error, state: State) -> WSCloseCause? {
        if let resolve = error as? WSResolveError { return resolve.cause }
        if let io = error as? IOError {
            switch io.errnoCode {
            case ECONNREFUSED: return .refused
            case ECONNRESET, EPIPE, ECONNABORTED: return .reset
            case EMFILE, ENFILE: return .local(.fd)
            case EADDRNOTAVAIL: return .local(.ports)
            case ETIMEDOUT: return state == .idle ? .timeout(.connect) : .reset
            case EHOSTUNREACH, ENETUNREACH: return .refused
            default: return .other("\(io)")
            }
        }
        if let ce = error as? ChannelError {
            switch ce {
            case .connectTimeout: return .timeout(.connect)
            case .eof, .alreadyClosed, .ioOnClosedChannel, .outputClosed: return nil
            default: return .other("\(ce)")
            }
        }
        if let ssl = error as? NIOSSLError {
            switch ssl {
            case .uncleanShutdown:
                return state == .tls ? .tlsHandshake("connection closed during the TLS handshake") : nil
            case .handshakeFailed(let e):
                let text = "\(e)"
                if text.contains("CERTIFICATE_VERIFY_FAILED") || text.contains("certificate") {
                    return .tlsVerify(Self.shortTLSReason(text))
                }
                return .tlsHandshake(Self.shortTLSReason(text))
            default:
                return .tlsHandshake("\(ssl)")
            }
        }
        if let extra = error as? NIOSSLExtraError {
            if extra == .failedToValidateHostname || extra == .serverHostnameImpossibleToMatch {
                return .tlsVerify("\(extra)")
            }
            return .tlsHandshake("\(extra)")
        }
        return .other("\(error)")
    }

    private static func shortTLSReason(_ text: String) -> String {
        String(text.prefix(200))
    }
}
