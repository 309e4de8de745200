// Package launch starts the ranks of a job as processes on this host: it
// serves the rendezvous store, gives each rank its KIZUNA_* environment,
// passes their output through whole lines at a time, and when one rank
// fails stops the others and reports which rank failed and how.
//
// `kizuna bench` uses it to run local ranks as separate processes.
package launch
