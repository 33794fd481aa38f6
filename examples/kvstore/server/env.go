package server

import (
	"flag"
	"fmt"
	"strings"
)

// envName is the environment variable that sets flag name:
// KVSTORE_ and the name in upper case with '-' as '_'.
func envName(name string) string {
	return "KVSTORE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment variable, when that is set: flags win over the environment.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || given[f.Name] {
			return
		}
		v, ok := lookup(envName(f.Name))
		if !ok {
			return
		}
		if serr := fs.Set(f.Name, v); serr != nil {
			err = usagef("%s=%q (for -%s): %v", envName(f.Name), v, f.Name, serr)
		}
	})
	return err
}

// usage prints every flag with its default and its environment variable.
func usage(fs *flag.FlagSet) {
	out := fs.Output()
	fmt.Fprintln(out, "Usage: kvstore -name NAME -data DIR [flags]")
	fmt.Fprintln(out, "Every flag can also be set from the environment variable named after it (given beside it);")
	fmt.Fprintln(out, "a flag on the command line wins over the environment.")
	fs.VisitAll(func(f *flag.Flag) {
		arg, text := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if arg != "" {
			line += " " + arg
		}
		fmt.Fprintf(out, "%s\n    \t%s", line, strings.ReplaceAll(text, "\n", "\n    \t"))
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			fmt.Fprintf(out, " (default %s)", f.DefValue)
		}
		fmt.Fprintf(out, "\n    \t[%s]\n", envName(f.Name))
	})
}
