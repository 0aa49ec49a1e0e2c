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
func metricsHandler(b *core.Broker) http.Handler {
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
	reg.MustRegister(queueCollector{b})
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
