//go:build !race

package schedule

// raceEnabled: built with -race (see race_on_test.go).
const raceEnabled = false
