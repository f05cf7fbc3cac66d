# bash completion for wgn(8)                                   -*- shell-script -*-
# Installed as /usr/share/bash-completion/completions/wgn, loaded on first use.
# Self-contained: it needs nothing from the bash-completion package but `complete`.

# The configuration directory the command line being completed would use:
# --config-dir DIR (or --config-dir=DIR) anywhere on it, else $WGN_CONFIG_DIR,
# else /etc/wgn.
_wgn_config_dir()
{
	local i w dir=
	for ((i = 1; i < ${#COMP_WORDS[@]}; i++)); do
		((i == COMP_CWORD)) && continue
		w=${COMP_WORDS[i]}
		case $w in
		--config-dir)
			# COMP_WORDBREAKS may have split --config-dir=DIR into three words.
			if [[ ${COMP_WORDS[i + 1]-} == = ]]; then
				((i + 2 != COMP_CWORD)) && dir=${COMP_WORDS[i + 2]-}
				((i += 2))
			else
				((i + 1 != COMP_CWORD)) && dir=${COMP_WORDS[i + 1]-}
				((i += 1))
			fi
			;;
		--config-dir=?*)
			dir=${w#--config-dir=}
			;;
		esac
	done
	if [[ -z $dir ]]; then
		dir=${WGN_CONFIG_DIR:-/etc/wgn}
	fi
	# A leading ~ as the shell would expand it.
	if [[ $dir == "~" || $dir == "~/"* ]]; then
		dir=$HOME${dir#\~}
	fi
	printf '%s\n' "$dir"
}

# Config NAMEs: the stems of DIR/*.toml that are valid interface names.
_wgn_config_names()
{
	local dir f n
	dir=$(_wgn_config_dir)
	[[ -d $dir ]] || return 0
	for f in "$dir"/*.toml; do
		[[ -e $f ]] || continue
		n=${f##*/}
		n=${n%.toml}
		[[ $n =~ ^[a-zA-Z0-9_=+.-]{1,15}$ ]] && printf '%s\n' "$n"
	done
}

# Adds "word" lines from stdin that start with $cur to COMPREPLY.
_wgn_add()
{
	local w
	while IFS= read -r w; do
		[[ $w == "$cur"* ]] && COMPREPLY+=("$w")
	done
}

# FILE arguments: *.toml files, and with "dirs" the directories to descend into.
_wgn_add_files()
{
	local f
	while IFS= read -r f; do
		if [[ -d $f ]]; then
			[[ ${1-} == dirs ]] && COMPREPLY+=("$f")
		elif [[ $f == *.toml ]]; then
			COMPREPLY+=("$f")
		fi
	done < <(compgen -f -- "$cur")
	((${#COMPREPLY[@]})) && compopt -o filenames 2>/dev/null
	return 0
}

_wgn()
{
	local cur=${COMP_WORDS[COMP_CWORD]-}
	local prev=${COMP_WORDS[COMP_CWORD - 1]-}
	COMPREPLY=()

	local global_opts="-v --verbose -q --quiet --config-dir -h --help -V --version"
	local commands="up down health register watch enroll sync rotate"
	local formats="human json nagios prometheus"

	# --opt=VALUE split by COMP_WORDBREAKS: complete VALUE for --opt.
	if [[ $cur == = ]]; then
		prev=${COMP_WORDS[COMP_CWORD - 1]-}
		cur=
	elif [[ $prev == = ]] && ((COMP_CWORD >= 2)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]-}
	elif [[ $cur == --*=* ]]; then
		prev=${cur%%=*}
		cur=${cur#*=}
	fi

	case $prev in
	--config-dir | --textfile-dir)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -d -- "$cur"))
		return 0
		;;
	--format)
		COMPREPLY=($(compgen -W "$formats" -- "$cur"))
		return 0
		;;
	--timeout | --max-retries | --stale-after | --label)
		# A number, or enroll's KEY=VALUE: nothing to offer.
		return 0
		;;
	--token-file | --ca-file)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return 0
		;;
	esac

	# The command, and how many arguments it already has.
	local i w cmd= nargs=0 all=
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		--config-dir | --textfile-dir | --format | --timeout | --max-retries | --stale-after | \
			--token-file | --ca-file | --label)
			# The option's value is the next word (or the one after a split "=").
			if [[ ${COMP_WORDS[i + 1]-} == = ]]; then ((i += 2)); else ((i += 1)); fi
			;;
		--all) all=1 ;;
		-*) ;;
		=) ;;
		*)
			if [[ -z $cmd ]]; then cmd=$w; else ((nargs++)); fi
			;;
		esac
	done

	local opts
	case $cmd in
	"")
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$global_opts" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		fi
		return 0
		;;
	up) opts="--no-register --timeout --max-retries --dry-run --json" ;;
	down) opts="--dry-run --json" ;;
	health) opts="--all --format --textfile-dir --stale-after --repair --report" ;;
	register) opts="--json" ;;
	watch) opts="--no-register --no-report" ;;
	enroll) opts="--token-file --ca-file --label --force --up --json" ;;
	sync) opts="--watch --prune --dry-run --json" ;;
	rotate) opts="--json" ;;
	*) return 0 ;;
	esac

	if [[ $cur == -* ]]; then
		# Global options work after the command too.
		COMPREPLY=($(compgen -W "$opts -h --help -v --verbose -q --quiet --config-dir" -- "$cur"))
		return 0
	fi

	# enroll's URL and new NAME: nothing to offer.
	[[ $cmd == enroll ]] && return 0
	# One NAME or FILE per command; none for health --all.
	if ((nargs > 0)) || [[ -n $all ]]; then
		return 0
	fi
	if [[ $cur == */* || $cur == .* || $cur == "~"* ]]; then
		_wgn_add_files dirs
	else
		_wgn_add < <(_wgn_config_names)
		_wgn_add_files
	fi
	return 0
}

complete -F _wgn wgn
