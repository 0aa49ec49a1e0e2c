package app

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omnibroker/broker/core"
)

// metricsHandler exposes the core counters and per-queue depths in the
// Prometheus text format.
func metricsHandler(b *core.Broker, a *App) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	st := b.Stats()
	for name, c := range map[string]interface{ Load() uint64 }{
		"published": &st.Published, "unroutable": &st.Unroutable, "delivered": &st.Delivered,
		"acked": &st.Acked, "dead_lettered": &st.DeadLetters, "expired": &st.Expired, "dropped": &st.Dropped,
	} {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "broker_messages_" + name + "_total",
			Help: "Messages " + name + " since start."}, func() float64 { return float64(c.Load()) }))
	}
	reg.MustRegister(queueCollector{b}, connCollector{a})
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

type queueCollector struct{ b *core.Broker }

var (
	descReady     = prometheus.NewDesc("broker_queue_messages_ready", "Ready messages per queue.", []string{"queue"}, nil)
	descUnacked   = prometheus.NewDesc("broker_queue_messages_unacked", "Leased messages per queue.", []string{"queue"}, nil)
	descConsumers = prometheus.NewDesc("broker_queue_consumers", "Consumers per queue.", []string{"queue"}, nil)
)

func (c queueCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descReady
	ch <- descUnacked
	ch <- descConsumers
}

func (c queueCollector) Collect(ch chan<- prometheus.Metric) {
	for _, q := range c.b.Queues() {
		ch <- prometheus.MustNewConstMetric(descReady, prometheus.GaugeValue, float64(q.Ready), q.Config.Name)
		ch <- prometheus.MustNewConstMetric(descUnacked, prometheus.GaugeValue, float64(q.Unacked), q.Config.Name)
		ch <- prometheus.MustNewConstMetric(descConsumers, prometheus.GaugeValue, float64(q.Consumers), q.Config.Name)
	}
}

var (
	descConnsOpen   = prometheus.NewDesc("broker_connections_open", "Open TCP/TLS connections per protocol listener.", []string{"proto"}, nil)
	descConnsClosed = prometheus.NewDesc("broker_connections_closed_total", "Connections ended, by protocol and close reason.", []string{"proto", "reason"}, nil)
)

// connCollector exports each front door's open connections and close reasons.
type connCollector struct{ a *App }

func (c connCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConnsOpen
	ch <- descConnsClosed
}

func (c connCollector) Collect(ch chan<- prometheus.Metric) {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	for name, l := range c.a.tcp {
		ch <- prometheus.MustNewConstMetric(descConnsOpen, prometheus.GaugeValue, float64(l.Active()), name)
	}
	for name, cc := range c.a.counted {
		for reason, n := range cc.CloseCounts() {
			ch <- prometheus.MustNewConstMetric(descConnsClosed, prometheus.CounterValue, float64(n), name, string(reason))
		}
	}
}
