package collective

import (
	"fmt"

	"github.com/kizuna-hpc/kizuna/transport"
	"github.com/kizuna-hpc/kizuna/transport/emu"
)

// EnvEmulate sets Config.Emulate for goroutine ranks (NewLocal, RunLocal,
// kizuna bench -transport inproc or tcp with -np).
const EnvEmulate = "KIZUNA_EMULATE"

// setupEmulation builds the emulated network of cfg.Emulate for n
// goroutine ranks. When cfg.Topology is empty it becomes the emulated
// topology (and an empty Placement the emulated placement), so that the
// schedules know the network they run on.
func setupEmulation(cfg *Config, n int) error {
	if cfg.Emulate == "" {
		return nil
	}
	sp, err := emu.ParseSpec(cfg.Emulate)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, EnvEmulate, err)
	}
	net, err := sp.Network(n)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, EnvEmulate, err)
	}
	if cfg.Topology == "" {
		cfg.Topology = sp.Topology
		if cfg.Placement == "" {
			cfg.Placement = sp.Placement
		}
	}
	cfg.emulate = net
	return nil
}

// emulated wraps ep in the emulated network, if any.
func emulated(net *emu.Network, ep transport.Endpoint) (transport.Endpoint, error) {
	if net == nil {
		return ep, nil
	}
	w, err := net.Wrap(ep)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, EnvEmulate, err)
	}
	return w, nil
}
