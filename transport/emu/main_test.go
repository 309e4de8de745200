package emu

import (
	"testing"

	"github.com/kizuna-hpc/kizuna/transport/transporttest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, transporttest.IgnoreGoroutines...)
}
