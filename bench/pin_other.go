//go:build !linux

package bench

func pinThread(int) error { return ErrNoPinning }
