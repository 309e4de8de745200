// Package test holds Kizuna's multi-process integration tests: they build
// the kizuna command and a test rank program, start separate processes
// over real TCP, and check results and failure behaviour end to end.
package test
