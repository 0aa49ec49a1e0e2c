// Command broker runs the message broker: AMQP 0-9-1, MQTT 3.1.1/5,
// STOMP 1.0-1.2 (TCP, TLS, WebSocket) and the SQS/SNS HTTP APIs on one core.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/omnibroker/broker/app"
	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/core"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	cfgPath := fs.String("config", "broker.yaml", "configuration file (YAML); see broker.yaml for every key")
	version := fs.Bool("version", false, "print the version and exit")
	level := fs.String("log-level", "info", "log level: debug, info, warn, error")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: broker [flags]\n\nEnvironment: BROKER_<KEY_PATH> overrides a key, e.g. BROKER_LISTENERS_AMQP_ADDR=:5673.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	if *version {
		fmt.Println("broker", app.Version)
		return 0
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		fmt.Fprintf(os.Stderr, "broker: --log-level %q: %v\n", *level, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	path := *cfgPath
	if _, err := os.Stat(path); err != nil && path == "broker.yaml" {
		path = "" // no file: built-in defaults
	}
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "broker: %v\n", oneLine(err))
		return 1
	}
	tuneGC(cfg, log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.Start(cfg, log)
	if err != nil {
		fmt.Fprintf(os.Stderr, "broker: %v\n", oneLine(err))
		return 1
	}
	log.Info("broker started", "version", app.Version, "node", cfg.Node.Name, "data_dir", cfg.Node.DataDir, "sync", cfg.Node.Sync)
	code := 0
	select {
	case <-ctx.Done():
		log.Info("shutting down", "grace", cfg.Grace())
	case err := <-a.Errors():
		log.Error("listener failed; shutting down", "err", err)
		code = 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Grace())
	defer cancel()
	if err := a.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
		code = 1
	}
	log.Info("stopped")
	return code
}

// oneLine joins a multi-error onto one line for the startup message.
func oneLine(err error) string {
	s := err.Error()
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, ';', ' ')
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

// tuneGC trades memory for CPU unless GOGC / GOMEMLIMIT say otherwise: the
// collector runs at 400% heap growth (a quarter of the default's GC work
// per message; the broker's live heap is mostly queued messages), with a
// soft memory limit at node.memory_high_watermark of RAM so that the heap
// is collected harder before the memory alarm would block publishers.
func tuneGC(cfg *config.Config, log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	if os.Getenv("GOMEMLIMIT") == "" && cfg.Node.MemoryHighWatermark > 0 {
		if total := core.PhysicalMemory(); total > 0 {
			limit := int64(float64(total) * cfg.Node.MemoryHighWatermark)
			debug.SetMemoryLimit(limit)
			log.Debug("soft memory limit", "bytes", limit)
		}
	}
}
