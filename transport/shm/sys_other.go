//go:build !linux

package shm

import "runtime"

func osYield() { runtime.Gosched() }

const mapPopulate = 0
