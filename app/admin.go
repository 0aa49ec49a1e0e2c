package app

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
)

// newAdmin serves /healthz, /metrics, /api/queues and /debug/pprof for operators.
func newAdmin(env Env, a *App) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /api/queues", func(w http.ResponseWriter, r *http.Request) {
		type q struct {
			Name      string `json:"name"`
			Durable   bool   `json:"durable"`
			Messages  int    `json:"messages"`
			Unacked   int    `json:"messages_unacknowledged"`
			Consumers int    `json:"consumers"`
		}
		var out []q
		for _, info := range env.Broker.Queues() {
			out = append(out, q{info.Config.Name, info.Config.Durable, info.Ready, info.Unacked, info.Consumers})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(out)
	})
	mux.Handle("GET /metrics", metricsHandler(env.Broker, a))
	// Profiling for operators (admin listener only).
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}
