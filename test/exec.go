package test

import (
	"context"
	"os/exec"
)

func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// Run runs a command (e.g. mosquitto_pub, aws, amqp-publish) with a context
// and returns its combined output.
func Run(ctx context.Context, name string, args ...string) (string, error) {
	return runCmd(ctx, name, args...)
}

// PythonBin is Debian's python3 (whose dist-packages hold python3-pika,
// python3-paho-mqtt, python3-stomp and python3-boto3), not a pyenv shim.
func PythonBin() string {
	if _, err := exec.LookPath("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	return "python3"
}
