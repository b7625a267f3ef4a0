// Package mock holds function-field implementations of the root package's
// service interfaces, so that transport tests can script each call's answer
// and inspect its arguments without a store. Calling a method whose
// function field is nil panics: a test that reaches an unexpected call fails
// loudly.
package mock
