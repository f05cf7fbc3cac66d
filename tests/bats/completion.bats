#!/usr/bin/env bats
# Shell completions: bash is driven for real (COMP_WORDS/COMP_CWORD in, COMPREPLY out);
# zsh and fish are checked for syntax and, where the shell allows it, driven too.

load test_helper

setup() {
	COMP_DIR="$WGN_SOURCE_DIR/completions"
	unset WGN_CONFIG_DIR
	# A config directory with two configs, a non-config and a stem that is not a name.
	CONF="$BATS_TEST_TMPDIR/conf"
	mkdir -p "$CONF"
	touch "$CONF/wg0.toml" "$CONF/office.toml" "$CONF/notes.txt" \
		"$CONF/this-name-is-far-too-long.toml"
	OTHER="$BATS_TEST_TMPDIR/other"
	mkdir -p "$OTHER"
	touch "$OTHER/lab.toml"
}

# complete_bash WORD...: the command line as words, the last one being completed (may be
# ""). Sets $output (and $lines) to the sorted COMPREPLY, one per line.
complete_bash() {
	output="$(
		cd "$BATS_TEST_TMPDIR" || exit 1
		# shellcheck source=/dev/null
		source "$COMP_DIR/wgn.bash"
		COMP_WORDS=("$@")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="${COMP_WORDS[*]}"
		COMP_POINT=${#COMP_LINE}
		_wgn wgn "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" || exit 1
		printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
	)"
	# As `run` leaves them, for assert_line.
	lines=()
	[ -z "$output" ] || mapfile -t lines <<<"$output"
}

@test "bash: the file registers a completion for wgn" {
	run bash -c "source '$COMP_DIR/wgn.bash' && complete -p wgn"
	assert_success
	assert_output "complete -F _wgn wgn"
}

@test "bash: subcommands" {
	complete_bash wgn ""
	assert_equal "$output" "$(printf '%s\n' down enroll health register rotate sync up watch)"
	complete_bash wgn en
	assert_equal "$output" "enroll"
	complete_bash wgn h
	assert_equal "$output" "health"
	complete_bash wgn -q --config-dir /tmp reg
	assert_equal "$output" "register"
	complete_bash wgn ro
	assert_equal "$output" "rotate"
	complete_bash wgn wa
	assert_equal "$output" "watch"
}

@test "bash: global options" {
	complete_bash wgn --
	assert_line -- --verbose
	assert_line -- --quiet
	assert_line -- --config-dir
	assert_line -- --version
	assert_line -- --help
	refute_line -- --format
}

@test "bash: per-command options" {
	complete_bash wgn up --
	for o in --no-register --timeout --max-retries --dry-run --json --help; do
		assert_line -- "$o"
	done
	refute_line -- --all
	complete_bash wgn health --
	for o in --all --format --textfile-dir --stale-after --repair; do
		assert_line -- "$o"
	done
	refute_line -- --dry-run
	complete_bash wgn down --
	assert_equal "$output" "$(printf '%s\n' --config-dir --dry-run --help --json --quiet --verbose)"
	complete_bash wgn register --j
	assert_equal "$output" "--json"
	complete_bash wgn enroll --
	for o in --token-file --ca-file --label --force --up --json --help; do
		assert_line -- "$o"
	done
	refute_line -- --dry-run
}

@test "bash: enroll completes files for --token-file and --ca-file, nothing for URL and NAME" {
	touch "$BATS_TEST_TMPDIR/enroll.token" "$BATS_TEST_TMPDIR/ca.pem"
	complete_bash wgn enroll --token-file "$BATS_TEST_TMPDIR/enr"
	assert_equal "$output" "$BATS_TEST_TMPDIR/enroll.token"
	complete_bash wgn enroll https://cp wg0 --ca-file = "$BATS_TEST_TMPDIR/ca"
	assert_equal "$output" "$BATS_TEST_TMPDIR/ca.pem"
	complete_bash wgn --config-dir "$CONF" enroll ""
	assert_equal "$output" ""
	complete_bash wgn --config-dir "$CONF" enroll --token-file t https://cp ""
	assert_equal "$output" ""
	complete_bash wgn enroll --label ""
	assert_equal "$output" ""
}

@test "bash: wgn health --format offers the four formats" {
	complete_bash wgn health --format ""
	assert_equal "$output" "$(printf '%s\n' human json nagios prometheus)"
	complete_bash wgn health wg0 --format n
	assert_equal "$output" "nagios"
	# --format=VALUE, split at '=' as bash's COMP_WORDBREAKS does.
	complete_bash wgn health --format = p
	assert_equal "$output" "prometheus"
	complete_bash wgn health --format =
	assert_equal "$output" "$(printf '%s\n' human json nagios prometheus)"
}

@test "bash: wgn up offers the config names of --config-dir" {
	complete_bash wgn --config-dir "$CONF" up ""
	assert_equal "$output" "$(printf '%s\n' office wg0)"
	complete_bash wgn up --config-dir "$CONF" w
	assert_equal "$output" "wg0"
	complete_bash wgn up --config-dir = "$CONF" o
	assert_equal "$output" "office"
}

@test "bash: config names come from \$WGN_CONFIG_DIR, and --config-dir wins" {
	export WGN_CONFIG_DIR="$CONF"
	complete_bash wgn down ""
	assert_equal "$output" "$(printf '%s\n' office wg0)"
	complete_bash wgn --config-dir "$OTHER" health ""
	assert_equal "$output" "lab"
}

@test "bash: the default config directory is /etc/wgn" {
	run grep -F 'dir=${WGN_CONFIG_DIR:-/etc/wgn}' "$COMP_DIR/wgn.bash"
	assert_success
	# And without any, a missing directory completes to nothing rather than failing.
	export WGN_CONFIG_DIR="$BATS_TEST_TMPDIR/none"
	complete_bash wgn up ""
	assert_equal "$output" ""
}

@test "bash: *.toml files are offered as FILE arguments" {
	mkdir -p "$BATS_TEST_TMPDIR/sub"
	touch "$BATS_TEST_TMPDIR/sub/edge.toml" "$BATS_TEST_TMPDIR/sub/readme.md" \
		"$BATS_TEST_TMPDIR/here.toml"
	complete_bash wgn up --config-dir "$CONF" ./sub/
	assert_equal "$output" "./sub/edge.toml"
	complete_bash wgn register --config-dir "$CONF" ""
	assert_equal "$output" "$(printf '%s\n' here.toml office wg0)"
}

@test "bash: nothing after the one argument, nothing for health --all" {
	complete_bash wgn up --config-dir "$CONF" wg0 ""
	assert_equal "$output" ""
	complete_bash wgn health --config-dir "$CONF" --all ""
	assert_equal "$output" ""
}

@test "bash: --config-dir and --textfile-dir complete directories" {
	mkdir -p "$BATS_TEST_TMPDIR/prom"
	complete_bash wgn health wg0 --textfile-dir "$BATS_TEST_TMPDIR/pr"
	assert_equal "$output" "$BATS_TEST_TMPDIR/prom"
	complete_bash wgn --config-dir "$BATS_TEST_TMPDIR/co"
	assert_equal "$output" "$BATS_TEST_TMPDIR/conf"
}

@test "bash: the completion's options are those of wgn --help" {
	[ -x "$WGN" ] || skip "no wgn binary at $WGN"
	local cmd opt
	for cmd in up down health register watch enroll sync rotate; do
		run "$WGN" "$cmd" --help
		assert_success
		local help="$output"
		complete_bash wgn "$cmd" --
		for opt in $(grep -oE -- '--[a-z][a-z-]+' <<<"$help" | sort -u); do
			assert_line -- "$opt"
		done
	done
	run "$WGN" health --help
	local formats
	formats=$(grep -oE '\{[a-z,]+\}' <<<"$output" | tr -d '{}' | tr , '\n' | sort)
	complete_bash wgn health --format ""
	assert_equal "$output" "$formats"
}

@test "zsh: _wgn parses" {
	requires_cmd zsh
	run zsh -n "$COMP_DIR/_wgn"
	assert_success
	assert_output ""
}

@test "zsh: _wgn is a #compdef file for wgn that knows the commands and formats" {
	run head -n 1 "$COMP_DIR/_wgn"
	assert_output "#compdef wgn"
	for w in up down health register watch enroll sync rotate --prune human json nagios prometheus WGN_CONFIG_DIR /etc/wgn \
		--config-dir --textfile-dir --stale-after --repair --no-register --max-retries \
		--token-file --ca-file --label --force; do
		grep -qF -- "$w" "$COMP_DIR/_wgn" || fail "_wgn does not know $w"
	done
}

@test "zsh: the config-name helper lists the names of --config-dir and \$WGN_CONFIG_DIR" {
	requires_cmd zsh
	run zsh -f -c "
		source '$COMP_DIR/_wgn' 2>/dev/null
		words=(wgn --config-dir '$CONF' up '')
		_wgn_config_names
		print -l -- \$reply"
	assert_success
	assert_equal "$output" "$(printf '%s\n' office wg0)"
	run env WGN_CONFIG_DIR="$OTHER" zsh -f -c "
		source '$COMP_DIR/_wgn' 2>/dev/null
		words=(wgn up '')
		_wgn_config_names
		print -l -- \$reply"
	assert_success
	assert_output "lab"
}

# zsh_complete LINE: what zsh's real completion lists for LINE<TAB>, driven through a
# pseudo-terminal (zsh/zpty) in a clean interactive zsh with _wgn on its fpath.
zsh_complete() {
	local fp="$BATS_TEST_TMPDIR/fpath"
	mkdir -p "$fp"
	cp "$COMP_DIR/_wgn" "$fp/"
	cat >"$BATS_TEST_TMPDIR/drive.zsh" <<'ZSH'
zmodload zsh/zpty
zpty -b z 'zsh -f -i'
zpty -w z "PS1='>'; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z "bindkey '^I' list-choices; LISTMAX=1000"
# Completion lists are not drawn while keys are pending, so nothing is typed ahead:
# wait for compinit (a mark split on the command line, so that its echo does not
# match), type the line and TAB, then read until zsh has redrawn the line under the
# list (the line appears twice) or 15 s have passed.
zpty -w z 'print wgn-rea""dy'
local out chunk acc= rest line=$2
# zsh redraws the line without its trailing blank (it moves the cursor instead).
local word=${line% }
zpty -r z out '*wgn-ready*'
zpty -n -w z "$line"$'\t'
integer i
for (( i = 0; i < 150; i++ )); do
	while zpty -r -t z chunk; do acc+=$chunk; done
	rest=${acc//"$word"/}
	(( ${#acc} - ${#rest} >= 2 * ${#word} )) && break
	sleep 0.1
done
print -rn -- "$acc"
zpty -w z $'\C-u'
zpty -w z 'exit'
ZSH
	output="$(cd "$BATS_TEST_TMPDIR" && timeout 20 zsh -f "$BATS_TEST_TMPDIR/drive.zsh" "$fp" "$1" |
		tr -d '\r')"
}

@test "zsh: real completion of commands, formats and config names (zpty)" {
	requires_cmd zsh timeout
	zsh_complete "wgn "
	for c in up down health register watch enroll sync rotate; do
		grep -qE "(^|[^a-z])$c +(-- )?[a-z]" <<<"$output" || fail "zsh did not offer $c: $output"
	done
	zsh_complete "wgn health --format "
	for f in human json nagios prometheus; do
		grep -qE "(^|[^a-z])$f([^a-z]|$)" <<<"$output" || fail "zsh did not offer $f: $output"
	done
	zsh_complete "wgn --config-dir $CONF up "
	grep -qE "(^|[^a-z])office([^a-z]|$)" <<<"$output" || fail "zsh did not offer office: $output"
	grep -qE "(^|[^a-z])wg0([^a-z0-9]|$)" <<<"$output" || fail "zsh did not offer wg0: $output"
	if grep -q this-name-is-far-too-long <<<"$output"; then fail "offered a bad name"; fi
	# watch's and enroll's options, each its own case (a missing ;; ran enroll's).
	zsh_complete "wgn enroll --"
	for o in --token-file --ca-file --label --force --up --json; do
		grep -qE -- "(^|[^a-z-])$o([^a-z-]|$)" <<<"$output" || fail "zsh did not offer $o: $output"
	done
	zsh_complete "wgn watch --"
	grep -qE -- "--no-register" <<<"$output" || fail "zsh did not offer --no-register: $output"
	if grep -qE -- "--token-file" <<<"$output"; then fail "zsh offered enroll's options to watch: $output"; fi
}

@test "fish: wgn.fish parses" {
	requires_cmd fish
	run fish -n "$COMP_DIR/wgn.fish"
	assert_success
	assert_output ""
}

@test "fish: completes commands, formats and config names" {
	requires_cmd fish
	run fish --no-config -c "source '$COMP_DIR/wgn.fish'; complete -C 'wgn '"
	assert_success
	for c in up down health register watch enroll sync rotate; do
		assert_line --regexp "^$c"$'\t'
	done
	run fish --no-config -c "source '$COMP_DIR/wgn.fish'; complete -C 'wgn enroll --'"
	assert_success
	for o in --token-file --ca-file --label --force --up --json; do
		assert_line --regexp "^$o"$'\t'
	done
	# enroll's URL and new NAME: no config names.
	run fish --no-config -c "cd '$BATS_TEST_TMPDIR'; source '$COMP_DIR/wgn.fish'; complete -C 'wgn --config-dir $CONF enroll '"
	assert_success
	refute_output --partial wg0
	run fish --no-config -c "source '$COMP_DIR/wgn.fish'; complete -C 'wgn health --format '"
	assert_success
	assert_equal "$(cut -f1 <<<"$output" | sort)" "$(printf '%s\n' human json nagios prometheus)"
	run fish --no-config -c "cd '$BATS_TEST_TMPDIR'; source '$COMP_DIR/wgn.fish'; complete -C 'wgn --config-dir $CONF up '"
	assert_success
	assert_line --regexp "^wg0"
	assert_line --regexp "^office"
	refute_line --regexp "^notes"
	run env WGN_CONFIG_DIR="$OTHER" fish --no-config -c "cd '$BATS_TEST_TMPDIR'; source '$COMP_DIR/wgn.fish'; complete -C 'wgn down '"
	assert_success
	assert_line --regexp "^lab"
}
