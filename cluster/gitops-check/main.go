// gitops-check judges DeploymentGate objects the way GitOps tools do, with
// their own libraries, so the project's tests need no Argo CD or Flux:
//
//	gitops-check lua health|discovery SCRIPT OBJECT.json
//	gitops-check lua action SCRIPT OBJECT.json
//	gitops-check kstatus OBJECT.json
//
// `lua` runs an Argo CD resource customization in gopher-lua, the interpreter
// Argo CD embeds, set up as Argo CD sets it up for its built-in scripts (the
// object as the global `obj`; the package, base and table libraries and an os
// library of time and date alone, as Argo CD gives scripts from argocd-cm),
// and prints what the script returned as JSON. `kstatus` prints the status
// Flux's health checks compute (sigs.k8s.io/cli-utils/pkg/kstatus/status).
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	luajson "layeh.com/gopher-json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gitops-check:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 4 && args[0] == "lua":
		return runLua(args[1], args[2], args[3])
	case len(args) == 2 && args[0] == "kstatus":
		return runKstatus(args[1])
	}
	return fmt.Errorf("usage: gitops-check lua health|discovery|action SCRIPT OBJECT.json | kstatus OBJECT.json")
}

// readObject reads a JSON object with whole numbers as int64, as client-go
// hands objects to Argo CD and Flux.
func readObject(path string) (map[string]interface{}, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	obj := map[string]interface{}{}
	if err := utiljson.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return obj, nil
}

func runKstatus(objectPath string) error {
	obj, err := readObject(objectPath)
	if err != nil {
		return err
	}
	result, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(map[string]string{
		"status":  result.Status.String(),
		"message": result.Message,
	})
}

func runLua(kind, scriptPath, objectPath string) error {
	if kind != "health" && kind != "discovery" && kind != "action" {
		return fmt.Errorf("unknown script kind %q", kind)
	}
	script, err := os.ReadFile(scriptPath)
	if err != nil {
		return err
	}
	obj, err := readObject(objectPath)
	if err != nil {
		return err
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.OsLibName, openTimeOnlyOs},
	} {
		if err := L.CallByParam(lua.P{Fn: L.NewFunction(lib.open), Protect: true}, lua.LString(lib.name)); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, obj))
	if err := L.DoString(string(script)); err != nil {
		return err
	}
	returned := L.Get(-1)
	if returned.Type() != lua.LTTable {
		return fmt.Errorf("the script returned %s, not a table", returned.Type())
	}
	out, err := luajson.Encode(returned)
	if err != nil {
		return err
	}
	if kind == "action" {
		// Lua has one table type, so an empty map of the object comes back as
		// an empty array; Argo CD restores those from the object it passed in
		// before it computes the patch, and so does this.
		var changed interface{}
		if err := json.Unmarshal(out, &changed); err != nil {
			return err
		}
		if out, err = json.Marshal(restoreEmptyMaps(changed, obj)); err != nil {
			return err
		}
	}
	_, err = fmt.Println(string(out))
	return err
}

// restoreEmptyMaps turns each empty array of `changed` back into an empty map
// where `original` holds a map at the same place.
func restoreEmptyMaps(changed, original interface{}) interface{} {
	switch c := changed.(type) {
	case map[string]interface{}:
		o, _ := original.(map[string]interface{})
		for key, value := range c {
			c[key] = restoreEmptyMaps(value, o[key])
		}
		return c
	case []interface{}:
		if _, wasMap := original.(map[string]interface{}); wasMap && len(c) == 0 {
			return map[string]interface{}{}
		}
		o, _ := original.([]interface{})
		for i, value := range c {
			if i < len(o) {
				c[i] = restoreEmptyMaps(value, o[i])
			}
		}
		return c
	}
	return changed
}

// openTimeOnlyOs gives scripts os.time and os.date and nothing that touches
// the process or the file system, as Argo CD's safe os library does.
func openTimeOnlyOs(L *lua.LState) int {
	full := L.NewTable()
	L.Push(L.NewFunction(lua.OpenOs))
	L.Call(0, 1)
	opened := L.Get(-1).(*lua.LTable)
	L.Pop(1)
	for _, name := range []string{"time", "date"} {
		full.RawSetString(name, opened.RawGetString(name))
	}
	L.SetGlobal(lua.OsLibName, full)
	L.Push(full)
	return 1
}

func toLua(L *lua.LState, value interface{}) lua.LValue {
	switch v := value.(type) {
	case bool:
		return lua.LBool(v)
	case float64:
		return lua.LNumber(v)
	case int64:
		return lua.LNumber(v)
	case string:
		return lua.LString(v)
	case []interface{}:
		arr := L.CreateTable(len(v), 0)
		for _, item := range v {
			arr.Append(toLua(L, item))
		}
		return arr
	case map[string]interface{}:
		tbl := L.CreateTable(0, len(v))
		for key, item := range v {
			tbl.RawSetH(lua.LString(key), toLua(L, item))
		}
		return tbl
	}
	return lua.LNil
}
