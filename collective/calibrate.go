package collective

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/kizuna-hpc/kizuna/collective/reduce"
	"github.com/kizuna-hpc/kizuna/collective/schedule"
)

// calibrateTag is the point-to-point tag Calibrate uses. Tags from
// ReservedTags up are reserved for the runtime.
const (
	ReservedTags  = 0xFFFF0000
	calibrateTag  = ReservedTags + 1
	calibrateReps = 50
)

// Costs returns the cost-model parameters the communicator chooses
// algorithms with.
func (c *Comm) Costs() schedule.Costs {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.costs
}

// SetCosts replaces the cost-model parameters. Every rank must set the same
// values (as Calibrate returns them), or ranks may choose different
// algorithms and get ErrMismatch.
func (c *Comm) SetCosts(k schedule.Costs) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.costs = k
	clear(c.choices)
	c.lastChoice.reset()
}

// Calibrate measures the cost model's parameters on this communicator:
// alpha and beta from a ping-pong between ranks 0 and 1 (8 bytes and
// 1 MiB, median of several round trips), gamma from the float32 sum kernel
// on this host. Every rank must call it; every rank gets rank 0's
// measurement, so that their algorithm choices agree. It does not change
// the communicator's costs: pass the result to SetCosts for that.
// KIZUNA_COSTS=measure does both when the communicator starts.
func (c *Comm) Calibrate(ctx context.Context) (schedule.Costs, error) {
	vals := make([]float64, 3)
	if c.size > 1 && c.rank <= 1 {
		small := make([]byte, 8)
		large := make([]byte, 1<<20)
		tSmall, err := c.pingPong(ctx, small)
		if err != nil {
			return schedule.Costs{}, err
		}
		tLarge, err := c.pingPong(ctx, large)
		if err != nil {
			return schedule.Costs{}, err
		}
		vals[0] = tSmall / 2
		vals[1] = math.Max((tLarge/2-vals[0])/float64(len(large)), 1e-12)
	}
	if c.rank == 0 {
		dst, src := make([]byte, 1<<20), make([]byte, 1<<20)
		times := make([]float64, 9)
		for i := range times {
			start := time.Now()
			reduce.Apply(reduce.Sum, reduce.Float32, dst, src)
			times[i] = time.Since(start).Seconds()
		}
		vals[2] = median(times) / float64(len(dst))
	}
	if err := Broadcast(ctx, c, vals, vals, 0); err != nil {
		return schedule.Costs{}, err
	}
	if c.size == 1 {
		return c.Costs(), nil
	}
	return schedule.Costs{Alpha: vals[0], Beta: vals[1], Gamma: vals[2]}, nil
}

// pingPong returns the median round-trip time of buf between ranks 0 and 1.
func (c *Comm) pingPong(ctx context.Context, buf []byte) (float64, error) {
	peer := 1 - c.rank
	times := make([]float64, calibrateReps)
	for i := -3; i < calibrateReps; i++ { // three warm-up round trips
		start := time.Now()
		if c.rank == 0 {
			if err := c.SendBytes(ctx, buf, Uint8, peer, calibrateTag); err != nil {
				return 0, fmt.Errorf("calibrate: %w", err)
			}
			if err := c.RecvBytes(ctx, buf, Uint8, peer, calibrateTag); err != nil {
				return 0, fmt.Errorf("calibrate: %w", err)
			}
		} else {
			if err := c.RecvBytes(ctx, buf, Uint8, peer, calibrateTag); err != nil {
				return 0, fmt.Errorf("calibrate: %w", err)
			}
			if err := c.SendBytes(ctx, buf, Uint8, peer, calibrateTag); err != nil {
				return 0, fmt.Errorf("calibrate: %w", err)
			}
		}
		if i >= 0 {
			times[i] = time.Since(start).Seconds()
		}
	}
	return median(times), nil
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s[len(s)/2]
}

// FormatCosts renders k in KIZUNA_COSTS syntax.
func FormatCosts(k schedule.Costs) string {
	return fmt.Sprintf("alpha=%.3gus,beta=%.3gns,gamma=%.3gns", k.Alpha*1e6, k.Beta*1e9, k.Gamma*1e9)
}
