// Package events delivers a shim daemon's events to containerd: one queue,
// one goroutine, in the order they were published, over containerd's
// ttrpc events service (TTRPC_ADDRESS). The queue can be held and handed
// to the next image of the daemon in an in-place upgrade.
//
// Lock rules: Publisher.mu guards the queue and is never held while an
// event is delivered; Publish may be called under any other lock.
package events

import (
	"context"
	"net"
	"strings"
	"sync"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Publisher forwards events to containerd over ttrpc (TTRPC_ADDRESS), in
// the order they were published, from one goroutine. It reconnects when
// containerd restarts, and retries an event until it is delivered or
// retryFor has passed.
type Publisher struct {
	namespace string
	address   string

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []*types.Envelope
	closed  bool
	drained chan struct{}
	// holding stops deliveries for a handover (hold); delivering is set
	// while one is under way.
	holding, delivering bool

	client *ttrpc.Client
}

const retryFor = 60 * time.Second

// New starts a Publisher for the daemon of a containerd namespace.
func New(namespace, address string) *Publisher {
	p := &Publisher{
		namespace: namespace,
		address:   strings.TrimPrefix(address, "unix://"),
		drained:   make(chan struct{}),
	}
	p.cond = sync.NewCond(&p.mu)
	go p.run()
	return p
}

// Publish queues an event. It never blocks on containerd.
func (p *Publisher) Publish(topic string, event proto.Message) {
	a, err := typeurl.MarshalAnyToProto(event)
	if err != nil {
		logrus.WithError(err).Errorf("marshal %s event", topic)
		return
	}
	env := &types.Envelope{Timestamp: timestamppb.Now(), Namespace: p.namespace, Topic: topic, Event: a}
	p.mu.Lock()
	if !p.closed {
		p.queue = append(p.queue, env)
		p.cond.Broadcast()
	}
	p.mu.Unlock()
}

// Close stops taking events and waits (up to timeout) for the queue to
// be delivered.
func (p *Publisher) Close(timeout time.Duration) {
	p.mu.Lock()
	p.closed = true
	p.cond.Broadcast()
	p.mu.Unlock()
	select {
	case <-p.drained:
	case <-time.After(timeout):
	}
}

func (p *Publisher) run() {
	defer close(p.drained)
	for {
		p.mu.Lock()
		for (len(p.queue) == 0 || p.holding) && !p.closed {
			p.cond.Wait()
		}
		if len(p.queue) == 0 {
			p.mu.Unlock()
			return
		}
		env := p.queue[0]
		p.queue = p.queue[1:]
		p.delivering = true
		p.mu.Unlock()
		p.deliver(env)
		p.mu.Lock()
		p.delivering = false
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// Hold stops deliveries once the one under way (if any) has ended, within
// timeout, and returns the events not delivered, in order, for the next
// image; ok is false if the delivery did not end in time (release then).
// Events published meanwhile are queued.
func (p *Publisher) Hold(timeout time.Duration) (queued [][]byte, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holding = true
	wake := time.AfterFunc(timeout, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})
	defer wake.Stop()
	start := time.Now()
	for p.delivering && time.Since(start) < timeout {
		p.cond.Wait()
	}
	if p.delivering {
		return nil, false
	}
	for _, env := range p.queue {
		b, err := proto.Marshal(env)
		if err != nil {
			logrus.WithError(err).Errorf("hand over %s event: dropped", env.Topic)
			continue
		}
		queued = append(queued, b)
	}
	return queued, true
}

// Release undoes hold: the handover was given up.
func (p *Publisher) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.holding = false
	p.cond.Broadcast()
}

// Requeue queues the events an earlier image handed over, first.
func (p *Publisher) Requeue(events [][]byte) {
	var envs []*types.Envelope
	for _, b := range events {
		env := &types.Envelope{}
		if err := proto.Unmarshal(b, env); err != nil {
			logrus.WithError(err).Error("an event handed over: dropped")
			continue
		}
		envs = append(envs, env)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(envs, p.queue...)
	p.cond.Broadcast()
}

func (p *Publisher) deliver(env *types.Envelope) {
	deadline := time.Now().Add(retryFor)
	backoff := 50 * time.Millisecond
	for {
		err := p.forward(env)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			logrus.WithError(err).Errorf("drop %s event after %s of retries", env.Topic, retryFor)
			return
		}
		logrus.WithError(err).Debugf("forward %s event; retrying", env.Topic)
		p.reset()
		time.Sleep(backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (p *Publisher) forward(env *types.Envelope) error {
	if p.client == nil {
		conn, err := net.DialTimeout("unix", p.address, 5*time.Second)
		if err != nil {
			return err
		}
		p.client = ttrpc.NewClient(conn)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := eventsapi.NewTTRPCEventsClient(p.client).Forward(ctx, &eventsapi.ForwardRequest{Envelope: env})
	return err
}

func (p *Publisher) reset() {
	if p.client != nil {
		p.client.Close()
		p.client = nil
	}
}
