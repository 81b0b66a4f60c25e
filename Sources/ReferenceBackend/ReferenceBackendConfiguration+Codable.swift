import DeviceModel
import Foundation
import NIOCore

// The parts of a `ReferenceBackendConfiguration` that are not Codable by themselves.

/// A duration as whole nanoseconds.
extension TimeAmount: @retroactive Codable {
    public init(from decoder: Decoder) throws {
        self = .nanoseconds(try decoder.singleValueContainer().decode(Int64.self))
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(nanoseconds)
    }
}

/// Admission limits as the text `/admin/admission` takes (`rate=200 burst=400 max-pending=100
/// retry-after=30s`, or `off`): the one text form, read by `init(parsing:)`.
extension AdmissionPolicy: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do { try self.init(parsing: text) } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "\(error)")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
