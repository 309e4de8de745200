package multi

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/kizuna-hpc/kizuna/transport/transporttest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, transporttest.IgnoreGoroutines...)
}
