package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// AMQP 0-9-1 scenarios (rabbitmq/amqp091-go; run the same command against
// RabbitMQ for a side-by-side figure):
//
//	loadgen -scenario amqp-confirm   -addr 127.0.0.1:5672 -duration 10s
//	loadgen -scenario amqp-transient -addr 127.0.0.1:5672
//	loadgen -scenario amqp-fanout    -addr 127.0.0.1:5672 -fanout 10
//	loadgen -scenario amqp-conns     -addr 127.0.0.1:5672 -conns 1000 -rate 1 -extra pid=1234
//
// -extra window=N sets the publisher-confirm window (default 512);
// pid=N reports that process's RSS at the end.
func init() {
	register(Scenario{Name: "amqp-confirm", About: "AMQP persistent + publisher confirms -> durable queue, -producers -> -consumers (manual ack)", Run: func(ctx context.Context, p Params) (*Result, error) {
		return amqpFlow(ctx, p, amqpShape{durable: true, confirms: true, queues: 1})
	}})
	register(Scenario{Name: "amqp-transient", About: "AMQP transient messages -> transient queue, autoack consumers", Run: func(ctx context.Context, p Params) (*Result, error) {
		return amqpFlow(ctx, p, amqpShape{autoAck: true, queues: 1})
	}})
	register(Scenario{Name: "amqp-fanout", About: "AMQP 1 publisher -> fanout exchange -> -fanout queues, one autoack consumer each", Run: func(ctx context.Context, p Params) (*Result, error) {
		p.Producers = 1
		return amqpFlow(ctx, p, amqpShape{autoAck: true, queues: max(p.Fanout, 1), fanout: true})
	}})
	register(Scenario{Name: "amqp-conns", About: "AMQP -conns connections each publishing -rate msg/s (default 1) -> 1 consumer", Run: amqpConns})
}

type amqpShape struct {
	durable, confirms, autoAck, fanout bool
	queues                             int
}

func amqpURL(p Params) string {
	if strings.HasPrefix(p.Addr, "amqp") {
		return p.Addr
	}
	return fmt.Sprintf("amqp://%s:%s@%s/", p.User, p.Pass, p.Addr)
}

func extraInt(p Params, key string, def int) int {
	for _, kv := range strings.Split(p.Extra, ",") {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return def
}

// amqpFlow publishes from p.Producers connections and consumes on every
// queue; each body starts with its send time for latency.
func amqpFlow(ctx context.Context, p Params, s amqpShape) (*Result, error) {
	size := max(p.Size, 8)
	run := fmt.Sprintf("lg-%d", time.Now().UnixNano()%1e9)
	setup, err := amqp.Dial(amqpURL(p))
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	sch, err := setup.Channel()
	if err != nil {
		return nil, err
	}
	exchange, key := "", run+"-0"
	if s.fanout {
		exchange, key = run+"-fan", ""
		if err := sch.ExchangeDeclare(exchange, "fanout", false, true, false, false, nil); err != nil {
			return nil, err
		}
	}
	queues := make([]string, s.queues)
	for i := range queues {
		queues[i] = fmt.Sprintf("%s-%d", run, i)
		if _, err := sch.QueueDeclare(queues[i], s.durable, false, false, false, nil); err != nil {
			return nil, err
		}
		if s.fanout {
			if err := sch.QueueBind(queues[i], "", exchange, false, nil); err != nil {
				return nil, err
			}
		}
	}
	defer func() {
		for _, q := range queues {
			sch.QueueDelete(q, false, false, true)
		}
	}()
	res := &Result{Lat: &Latencies{}}
	var received, sent atomic.Int64
	runCtx, cancel := context.WithTimeout(ctx, p.Duration)
	defer cancel()
	var wg sync.WaitGroup
	consumers := max(p.Consumers, 1)
	if s.queues > 1 {
		consumers = s.queues
	}
	for i := 0; i < consumers; i++ {
		q := queues[i%len(queues)]
		c, err := amqp.Dial(amqpURL(p))
		if err != nil {
			return nil, err
		}
		defer c.Close()
		ch, err := c.Channel()
		if err != nil {
			return nil, err
		}
		if !s.autoAck {
			ch.Qos(500, 0, false)
		}
		dl, err := ch.Consume(q, "", s.autoAck, false, false, false, nil)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := 0
			for d := range dl {
				if len(d.Body) >= 8 {
					res.Lat.Add(time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(d.Body)))))
				}
				received.Add(1)
				if !s.autoAck {
					n++
					if n%50 == 0 {
						d.Ack(true)
					}
				}
			}
		}()
	}
	window := extraInt(p, "window", 512)
	start := time.Now()
	var pwg sync.WaitGroup
	for i := 0; i < max(p.Producers, 1); i++ {
		c, err := amqp.Dial(amqpURL(p))
		if err != nil {
			return nil, err
		}
		defer c.Close()
		ch, err := c.Channel()
		if err != nil {
			return nil, err
		}
		var confirms chan amqp.Confirmation
		if s.confirms {
			if err := ch.Confirm(false); err != nil {
				return nil, err
			}
			confirms = ch.NotifyPublish(make(chan amqp.Confirmation, window*2))
		}
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			body := make([]byte, size)
			mode := amqp.Transient
			if s.durable {
				mode = amqp.Persistent
			}
			var tick *time.Ticker
			if p.Rate > 0 {
				tick = time.NewTicker(time.Second / time.Duration(p.Rate))
				defer tick.Stop()
			}
			outstanding := 0
			for runCtx.Err() == nil {
				if tick != nil {
					select {
					case <-tick.C:
					case <-runCtx.Done():
						return
					}
				}
				for s.confirms && outstanding >= window {
					select {
					case cf, ok := <-confirms:
						if !ok {
							return
						}
						_ = cf
						outstanding--
					case <-runCtx.Done():
						return
					}
				}
				binary.BigEndian.PutUint64(body, uint64(time.Now().UnixNano()))
				if err := ch.Publish(exchange, key, false, false, amqp.Publishing{DeliveryMode: mode, Body: body}); err != nil {
					return
				}
				sent.Add(1)
				outstanding++
			}
		}()
	}
	pwg.Wait()
	// Let consumers drain what was sent (bounded).
	want := sent.Load() * int64(s.queues)
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	res.Elapsed = time.Since(start)
	res.Sent, res.Received = sent.Load(), received.Load()
	res.Notes = amqpRSSNote(p, 0)
	return res, nil
}

// amqpConns opens p.Conns connections that each publish slowly to one queue.
func amqpConns(ctx context.Context, p Params) (*Result, error) {
	rate := max(p.Rate, 1)
	run := fmt.Sprintf("lg-conns-%d", time.Now().UnixNano()%1e9)
	setup, err := amqp.Dial(amqpURL(p))
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	sch, _ := setup.Channel()
	if _, err := sch.QueueDeclare(run, false, false, true, false, nil); err != nil {
		return nil, err
	}
	res := &Result{Lat: &Latencies{}}
	var received, sent, failed atomic.Int64
	dl, err := sch.Consume(run, "", true, false, false, false, nil)
	if err != nil {
		return nil, err
	}
	go func() {
		for d := range dl {
			if len(d.Body) >= 8 {
				res.Lat.Add(time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(d.Body)))))
			}
			received.Add(1)
		}
	}()
	openStart := time.Now()
	conns := make([]*amqp.Channel, 0, p.Conns)
	for i := 0; i < p.Conns && ctx.Err() == nil; i++ {
		c, err := amqp.DialConfig(amqpURL(p), amqp.Config{Heartbeat: 60 * time.Second})
		if err != nil {
			failed.Add(1)
			continue
		}
		defer c.Close()
		ch, err := c.Channel()
		if err != nil {
			failed.Add(1)
			continue
		}
		conns = append(conns, ch)
	}
	opened := time.Since(openStart)
	runCtx, cancel := context.WithTimeout(ctx, p.Duration)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	size := max(p.Size, 8)
	for i, ch := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, size)
			// Spread the first publishes over one interval.
			select {
			case <-time.After(time.Duration(i) * time.Second / time.Duration(rate) / time.Duration(max(len(conns), 1))):
			case <-runCtx.Done():
				return
			}
			t := time.NewTicker(time.Second / time.Duration(rate))
			defer t.Stop()
			for {
				binary.BigEndian.PutUint64(body, uint64(time.Now().UnixNano()))
				if ch.Publish("", run, false, false, amqp.Publishing{Body: body}) != nil {
					return
				}
				sent.Add(1)
				select {
				case <-t.C:
				case <-runCtx.Done():
					return
				}
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for received.Load() < sent.Load() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	res.Elapsed = time.Since(start)
	res.Sent, res.Received = sent.Load(), received.Load()
	res.Notes = fmt.Sprintf("conns=%d failed=%d open_time=%v%s", len(conns), failed.Load(), opened.Round(time.Millisecond), amqpRSSNote(p, len(conns)))
	return res, nil
}

// amqpRSSNote reports the RSS of -extra pid=N, per connection when conns > 0.
func amqpRSSNote(p Params, conns int) string {
	pid := extraInt(p, "pid", 0)
	if pid <= 0 {
		return ""
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if conns > 0 {
				return fmt.Sprintf(" server_rss=%.0fMiB rss_per_conn=%.1fKiB", float64(kb)/1024, float64(kb)/float64(conns))
			}
			return fmt.Sprintf(" server_rss=%.0fMiB", float64(kb)/1024)
		}
	}
	return ""
}
