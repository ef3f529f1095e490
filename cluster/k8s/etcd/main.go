// Command etcd is the upstream etcd server entry point, built from the
// version of go.etcd.io/etcd/server that Kubernetes pins.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
