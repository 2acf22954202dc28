// Command render renders a Helm chart the way `helm template` does, for machines without a
// helm binary: Go's text/template with the sprig functions (Helm's own engine) plus Helm's
// additions (include, tpl, required, toYaml, fromYaml, toJson, lookup), over the chart's
// values.yaml merged with -f files and --set-string key=value pairs.
//
// Usage: render -chart helm/s3store -name demo -namespace storage [-f more.yaml] [-set a.b=c]
// Prints every non-empty manifest after a `# Source: <chart>/templates/<file>` line, as helm
// does; exits non-zero on any template error.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func readYAML(path string) map[string]interface{} {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	out := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &out); err != nil {
		fail("%s: %v", path, err)
	}
	return out
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "render: "+format+"\n", args...)
	os.Exit(1)
}

// merge overlays src onto dst (maps merged key by key, anything else replaced), as Helm
// merges values files.
func merge(dst, src map[string]interface{}) map[string]interface{} {
	for k, v := range src {
		if sm, ok := v.(map[string]interface{}); ok {
			if dm, ok := dst[k].(map[string]interface{}); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}

func setPath(values map[string]interface{}, path, value string) {
	parts := strings.Split(path, ".")
	m := values
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = value
}

func toYAML(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func main() {
	chart := flag.String("chart", "", "the chart folder")
	name := flag.String("name", "release", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	var files, sets list
	flag.Var(&files, "f", "a values file (repeatable)")
	flag.Var(&sets, "set", "key.path=value, as a string (repeatable)")
	flag.Parse()
	if *chart == "" {
		fail("-chart is required")
	}
	meta := readYAML(filepath.Join(*chart, "Chart.yaml"))
	values := readYAML(filepath.Join(*chart, "values.yaml"))
	for _, f := range files {
		values = merge(values, readYAML(f))
	}
	for _, s := range sets {
		kv := strings.SplitN(s, "=", 2)
		if len(kv) != 2 {
			fail("-set %q: want key=value", s)
		}
		setPath(values, kv[0], kv[1])
	}
	chartValues := map[string]interface{}{}
	for k, v := range meta {
		chartValues[strings.ToUpper(k[:1])+k[1:]] = v
	}
	top := map[string]interface{}{
		"Values": values,
		"Chart":  chartValues,
		"Release": map[string]interface{}{
			"Name": *name, "Namespace": *namespace, "Service": "Helm",
			"IsInstall": true, "IsUpgrade": false, "Revision": 1,
		},
		"Template": map[string]interface{}{
			"BasePath": filepath.Base(*chart) + "/templates",
		},
		"Capabilities": map[string]interface{}{
			"KubeVersion": map[string]interface{}{"Version": "v1.29.0", "Major": "1", "Minor": "29"},
			"APIVersions": []string{},
		},
	}

	root := template.New("chart")
	funcs := sprig.TxtFuncMap()
	funcs["toYaml"] = toYAML
	funcs["fromYaml"] = func(s string) map[string]interface{} {
		out := map[string]interface{}{}
		_ = yaml.Unmarshal([]byte(s), &out)
		return out
	}
	funcs["toJson"] = func(v interface{}) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	funcs["required"] = func(msg string, v interface{}) (interface{}, error) {
		if v == nil || v == "" {
			return nil, fmt.Errorf("%s", msg)
		}
		return v, nil
	}
	// No cluster to look into: like `helm template`, lookup finds nothing.
	funcs["lookup"] = func(string, string, string, string) map[string]interface{} {
		return map[string]interface{}{}
	}
	funcs["include"] = func(name string, data interface{}) (string, error) {
		var buf bytes.Buffer
		err := root.ExecuteTemplate(&buf, name, data)
		return buf.String(), err
	}
	funcs["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		t, err = t.New("tpl").Parse(text)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		err = t.Execute(&buf, data)
		return buf.String(), err
	}
	root.Funcs(funcs).Option("missingkey=zero")

	dir := filepath.Join(*chart, "templates")
	entries, err := os.ReadDir(dir)
	if err != nil {
		fail("%v", err)
	}
	var names []string
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".tpl") || strings.HasSuffix(n, ".txt")) {
			continue
		}
		text, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			fail("%v", err)
		}
		// Named as Helm names them, so `include (print .Template.BasePath "/x.yaml")` works.
		if _, err := root.New(filepath.Base(*chart) + "/templates/" + n).Parse(string(text)); err != nil {
			fail("%s: %v", n, err)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	chartName := filepath.Base(*chart)
	for _, n := range names {
		if strings.HasPrefix(n, "_") || strings.HasSuffix(n, ".txt") {
			continue
		}
		var buf bytes.Buffer
		if err := root.ExecuteTemplate(&buf, chartName+"/templates/"+n, top); err != nil {
			fail("%s: %v", n, err)
		}
		out := strings.TrimSpace(strings.ReplaceAll(buf.String(), "<no value>", ""))
		if out == "" {
			continue
		}
		fmt.Printf("---\n# Source: %s/templates/%s\n%s\n", chartName, n, out)
	}
}
