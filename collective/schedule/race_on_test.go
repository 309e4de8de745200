//go:build race

package schedule

// raceEnabled: built with -race, which finds nothing in this package (it
// starts no goroutines) and slows its simulator about tenfold; see
// matrixCases for what the matrix leaves out under it.
const raceEnabled = true
