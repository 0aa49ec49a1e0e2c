// Package app wires the broker together: config -> core -> every listener.
// cmd/broker and the test harness both start the broker through it.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/omnibroker/broker/config"
	"github.com/omnibroker/broker/core"
	"github.com/omnibroker/broker/listeners"
	"github.com/omnibroker/broker/listeners/h1"
)

// Version is the broker version, set at build time with -ldflags.
var Version = "0.1.0-dev"

// App is a running broker.
type App struct {
	cfg    *config.Config
	log    *slog.Logger
	broker *core.Broker

	mu      sync.Mutex
	tcp     map[string]*listeners.Listener
	http    map[string]httpServer
	addrs   map[string]string
	closers []func(context.Context) error
	counted map[string]listeners.CloseCounter // close reasons by protocol
	errs    chan error
	done    bool
}

// Start opens the core and starts every listener whose addr is set.
func Start(cfg *config.Config, log *slog.Logger) (_ *App, err error) {
	b, err := core.Open(core.Options{DataDir: cfg.Node.DataDir, SyncAlways: cfg.Node.Sync == "always", Logger: log,
		MemoryHighWatermark: cfg.Node.MemoryHighWatermark})
	if err != nil {
		return nil, err
	}
	users := make([]core.User, 0, len(cfg.Users))
	for _, u := range cfg.Users {
		users = append(users, core.User{Name: u.Name, Password: u.Password})
	}
	if err := b.SetUsers(users); err != nil {
		b.Close()
		return nil, err
	}
	if len(users) == 0 {
		log.Warn("no users configured: anonymous access is allowed on every listener")
	}
	a := &App{cfg: cfg, log: log, broker: b, tcp: map[string]*listeners.Listener{}, http: map[string]httpServer{},
		addrs: map[string]string{}, errs: make(chan error, 8), counted: map[string]listeners.CloseCounter{}}
	defer func() {
		if err != nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			a.Shutdown(ctx)
			cancel()
		}
	}()
	env := Env{Broker: b, Config: cfg, Logger: log}
	stream := map[string]listeners.ConnHandler{}
	for _, p := range []struct {
		name string
		ctor func(Env) (listeners.ConnHandler, func(context.Context) error, error)
	}{{"amqp", newAMQP}, {"mqtt", newMQTT}, {"stomp", newSTOMP}} {
		h, closer, err := p.ctor(env.with(p.name))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		if closer != nil {
			a.closers = append(a.closers, closer)
		}
		if h == nil {
			continue
		}
		stream[p.name] = h
		if cc, ok := h.(listeners.CloseCounter); ok {
			a.counted[p.name] = cc
		}
		lc := *cfg.ListenerMap()[p.name]
		if lc.Addr == "" {
			continue
		}
		if err := a.startTCP(p.name, lc, h); err != nil {
			return nil, err
		}
	}
	if lc := cfg.Listeners.WS; lc.Addr != "" {
		h, err := newWS(env.with("ws"), stream["mqtt"], stream["stomp"])
		if err != nil {
			return nil, fmt.Errorf("ws: %w", err)
		}
		if h != nil {
			if err := a.startHTTP("ws", lc, h); err != nil {
				return nil, err
			}
		}
	}
	if lc := cfg.Listeners.AWS; lc.Addr != "" {
		h, closer, err := newAWS(env.with("aws"))
		if err != nil {
			return nil, fmt.Errorf("aws: %w", err)
		}
		if closer != nil {
			a.closers = append(a.closers, closer)
		}
		if h != nil {
			if err := a.startHTTP("aws", lc, h); err != nil {
				return nil, err
			}
		}
	}
	if lc := cfg.Listeners.Admin; lc.Addr != "" {
		if err := a.startHTTP("admin", lc, newAdmin(env.with("admin"), a)); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Env is what a protocol constructor gets.
type Env struct {
	Broker *core.Broker
	Config *config.Config
	Logger *slog.Logger
}

func (e Env) with(proto string) Env {
	e.Logger = e.Logger.With("proto", proto)
	return e
}

func tlsConfig(name string, lc config.Listener) (*tls.Config, error) {
	if lc.TLS == nil {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(lc.TLS.Cert, lc.TLS.Key)
	if err != nil {
		return nil, fmt.Errorf("listeners.%s.tls: %w", name, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

func (a *App) startTCP(name string, lc config.Listener, h listeners.ConnHandler) error {
	tc, err := tlsConfig(name, lc)
	if err != nil {
		return err
	}
	l, err := listeners.Listen(listeners.Config{Name: name, Addr: lc.Addr, TLS: tc, MaxConns: lc.MaxConns, Logger: a.log})
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.tcp[name] = l
	a.addrs[name] = l.Addr().String()
	a.mu.Unlock()
	a.log.Info("listener up", "proto", name, "addr", l.Addr().String(), "tls", tc != nil)
	go func() {
		if err := l.Serve(h); err != nil {
			a.errs <- err
		}
	}()
	return nil
}

func (a *App) startHTTP(name string, lc config.Listener, h http.Handler) error {
	tc, err := tlsConfig(name, lc)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", lc.Addr)
	if err != nil {
		return fmt.Errorf("listeners.%s.addr %s: %w", name, lc.Addr, err)
	}
	if lc.MaxConns > 0 {
		ln = listeners.LimitListener(ln, lc.MaxConns, name, a.log)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	std := &http.Server{Handler: h, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	var srv httpServer = std
	if name == "aws" && tc == nil {
		// The SQS/SNS hot path: a lean HTTP/1.1 server, net/http for
		// everything else (listeners/h1).
		srv = &h1.Server{Handler: h, Fallback: std, ReadHeaderTimeout: std.ReadHeaderTimeout, Logger: a.log}
	}
	a.mu.Lock()
	a.http[name] = srv
	a.addrs[name] = ln.Addr().String()
	a.mu.Unlock()
	a.log.Info("listener up", "proto", name, "addr", ln.Addr().String(), "tls", tc != nil)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.errs <- fmt.Errorf("listeners.%s: %w", name, err)
		}
	}()
	return nil
}

// httpServer is net/http's server or listeners/h1's.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Addr returns the bound address of a listener ("amqp", "mqtt", "stomp",
// "ws", "aws", "admin"), or "" when it is off.
func (a *App) Addr(name string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addrs[name]
}

// Broker returns the core.
func (a *App) Broker() *core.Broker { return a.broker }

// Errors reports fatal listener errors.
func (a *App) Errors() <-chan error { return a.errs }

// Shutdown stops accepting, lets every protocol say goodbye and drain
// within ctx, stops HTTP servers, then the core and the engine.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	if a.done {
		a.mu.Unlock()
		return nil
	}
	a.done = true
	tcp, hs := a.tcp, a.http
	a.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range tcp {
		wg.Add(1)
		go func() { defer wg.Done(); l.Shutdown(ctx) }()
	}
	for _, s := range hs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(ctx); err != nil {
				s.Close()
			}
		}()
	}
	wg.Wait()
	for _, c := range a.closers {
		if err := c(ctx); err != nil {
			a.log.Warn("shutdown", "err", err)
		}
	}
	return a.broker.Close()
}
