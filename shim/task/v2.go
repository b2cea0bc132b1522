package task

import (
	"context"

	taskv3 "github.com/berth-oci/berth/shim/internal/taskapi"
	"github.com/containerd/ttrpc"
)

// registerTaskV2 serves the task API v2 (containerd 1.6 and 1.7, and 2.x
// with a plain address) from the v3 implementation: the two protocols
// differ only in the service name, not in their messages on the wire.
func registerTaskV2(srv *ttrpc.Server, svc taskv3.TTRPCTaskService) {
	srv.RegisterService("containerd.task.v2.Task", &ttrpc.ServiceDesc{
		Methods: map[string]ttrpc.Method{
			"State":      method(svc.State),
			"Create":     method(svc.Create),
			"Start":      method(svc.Start),
			"Delete":     method(svc.Delete),
			"Pids":       method(svc.Pids),
			"Pause":      method(svc.Pause),
			"Resume":     method(svc.Resume),
			"Checkpoint": method(svc.Checkpoint),
			"Kill":       method(svc.Kill),
			"Exec":       method(svc.Exec),
			"ResizePty":  method(svc.ResizePty),
			"CloseIO":    method(svc.CloseIO),
			"Update":     method(svc.Update),
			"Wait":       method(svc.Wait),
			"Stats":      method(svc.Stats),
			"Connect":    method(svc.Connect),
			"Shutdown":   method(svc.Shutdown),
		},
	})
}

func method[Req, Resp any](call func(context.Context, *Req) (Resp, error)) ttrpc.Method {
	return func(ctx context.Context, unmarshal func(any) error) (any, error) {
		var req Req
		if err := unmarshal(&req); err != nil {
			return nil, err
		}
		return call(ctx, &req)
	}
}
