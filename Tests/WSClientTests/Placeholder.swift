import Testing
@testable import WSClient
@Test func placeholder() {}
