import Foundation

/// A report file that cannot be used: unreadable, not JSON, not `fleetsim.report/1`, or reports
/// that do not belong together. Input errors (exit 2).
public struct ReportError: Error, Equatable, CustomStringConvertible, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension Report {
    /// Reads a `fleetsim.report/1` JSON document, with the float encoding `jsonData()` writes.
    public static func read(from data: Data) throws -> Report {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let schema = object["schema"] as? String, schema != Report.schemaName {
            throw ReportError("schema \"\(schema)\" is not \(Report.schemaName)")
        }
        do {
            return try decoder.decode(Report.self, from: data)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ReportError("not a \(Report.schemaName) report: missing \"\(path(context.codingPath + [key]))\"")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ReportError("not a \(Report.schemaName) report: \(path(context.codingPath)): \(context.debugDescription)")
        } catch let DecodingError.dataCorrupted(context) {
            let underlying = (context.underlyingError as NSError?)?.localizedDescription
            throw ReportError("not valid JSON\(context.codingPath.isEmpty ? "" : " at \(path(context.codingPath))"): \(underlying ?? context.debugDescription)")
        }
    }

    /// Reads a report file; errors start with the path.
    public static func read(path: String) throws -> Report {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ReportError("\(path): cannot read the file (\((error as NSError).localizedDescription))")
        }
        do {
            return try read(from: data)
        } catch let error as ReportError {
            throw ReportError("\(path): \(error.message)")
        }
    }

    private static func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }
}
