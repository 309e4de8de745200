// Package diag holds the data formats of Kizuna's diagnosis tools, shared by
// the communicator (which writes them) and the launcher (which reads them):
// the flight record a rank dumps when it hangs or is asked to (SIGUSR1,
// /debug/flight, an operation timeout), the summary `kizuna run` prints
// from every rank's record, and the Chrome trace-event timeline files that
// KIZUNA_TIMELINE writes and `kizuna timeline merge` joins.
//
// Everything here is plain data and functions on it; nothing starts a
// goroutine or keeps a reference to its arguments.
package diag
