package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grafana/dskit/services"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/zkd-io/zkd/server/config"
	"github.com/zkd-io/zkd/server/quorum/peer"
	"github.com/zkd-io/zkd/server/quorum/wire"
	"github.com/zkd-io/zkd/server/zkserver"
)

// quorumConfig turns zoo.cfg's server lines into the quorum verifier the
// election and ZAB exchange (a static config: version 0).
func quorumConfig(cfg *config.Config) wire.QuorumConfig {
	var qc wire.QuorumConfig
	for _, s := range cfg.Servers {
		t := wire.Participant
		if s.Observer {
			t = wire.Observer
		}
		qc.Servers = append(qc.Servers, wire.QuorumServer{
			ID:         s.ID,
			Addrs:      []wire.ServerAddr{{Host: s.Host, QuorumPort: s.QuorumPort, ElectionPort: s.ElectionPort}},
			Type:       t,
			ClientHost: s.ClientHost,
			ClientPort: s.ClientPort,
		})
	}
	return qc
}

// newPeer builds this server's ensemble membership from zoo.cfg.
func newPeer(cfg *config.Config, logger zerolog.Logger, reg prometheus.Registerer) (*peer.Peer, error) {
	treeOpts, err := zkserver.TreeOptions(reg, cfg.ExtendedTypesEnabled, logger)
	if err != nil {
		return nil, err
	}
	p, err := peer.New(peer.Config{
		ID:                    cfg.MyID,
		Quorum:                quorumConfig(cfg),
		DataDir:               cfg.DataDir,
		DataLogDir:            cfg.TxnLogDir(),
		NoSync:                !cfg.ForceSync,
		SnapCompression:       cfg.SnapshotCompression,
		FsyncWarningThreshold: cfg.FsyncWarningThreshold,
		TreeOptions:           treeOpts,
		TickTime:              cfg.TickTime,
		InitLimit:             cfg.InitLimit,
		SyncLimit:             cfg.SyncLimit,
		SnapCount:             cfg.SnapCount,
		PreAllocSize:          cfg.PreAllocSize,
		PurgeInterval:         time.Duration(cfg.AutopurgePurgeInterval) * time.Hour,
		SnapRetainCount:       cfg.AutopurgeSnapRetainCount,
		Logger:                logger,
		Registerer:            reg,
	})
	if err != nil {
		return nil, fmt.Errorf("ensemble member: %w", err)
	}
	if err := p.Restore(); err != nil {
		return nil, fmt.Errorf("ensemble member: %w", err)
	}
	return p, nil
}

// peerService runs the peer as a dskit service: it elects and replicates
// until the server stops; a peer that ends on its own (its disk failed)
// fails the service, which stops the process.
func peerService(p *peer.Peer) services.Service {
	return services.NewBasicService(nil, func(ctx context.Context) error {
		err := p.Run(ctx)
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil
		}
		return err
	}, nil)
}
