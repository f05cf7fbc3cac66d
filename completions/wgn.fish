# fish completion for wgn(8).
# Installed as /usr/share/fish/vendor_completions.d/wgn.fish.

# Options whose value is the next word.
set -g __wgn_valued_options --config-dir --textfile-dir --format --timeout --max-retries --stale-after \
    --token-file --ca-file --label

# The words on the command line that are neither options nor option values, and
# --all (which health takes instead of a NAME).
function __wgn_words
    set -l tokens (commandline -opc)
    set -l skip 0
    for t in $tokens[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        if contains -- $t $__wgn_valued_options
            set skip 1
            continue
        end
        switch $t
            case --all
                echo $t
            case '-*'
            case '*'
                echo $t
        end
    end
end

# The command (up, down, health, register, watch, enroll, sync, rotate) on the command line, if any.
function __wgn_command
    for w in (__wgn_words)
        if test $w != --all
            echo $w
            return 0
        end
    end
    return 1
end

function __wgn_no_command
    not __wgn_command >/dev/null
end

# True when the command is one of the arguments.
function __wgn_using
    set -l cmd (__wgn_command)
    or return 1
    contains -- $cmd $argv
end

# True when the command still lacks its NAME or FILE (and is not health --all, nor
# enroll, whose URL and new NAME have nothing to offer).
function __wgn_needs_config
    set -l words (__wgn_words)
    contains -- --all $words; and return 1
    test "$words[1]" = enroll; and return 1
    test (count $words) -eq 1
end

# --config-dir from the command line, else $WGN_CONFIG_DIR, else /etc/wgn.
function __wgn_config_dir
    set -l tokens (commandline -opc)
    set -l dir
    set -l i 1
    while test $i -le (count $tokens)
        switch $tokens[$i]
            case --config-dir
                set i (math $i + 1)
                if test $i -le (count $tokens)
                    set dir $tokens[$i]
                end
            case '--config-dir=?*'
                set dir (string replace -- --config-dir= '' $tokens[$i])
        end
        set i (math $i + 1)
    end
    if test -z "$dir"
        if set -q WGN_CONFIG_DIR; and test -n "$WGN_CONFIG_DIR"
            set dir $WGN_CONFIG_DIR
        else
            set dir /etc/wgn
        end
    end
    string replace -r -- '^~' $HOME $dir
end

# The config NAMEs: stems of DIR/*.toml that are interface names.
function __wgn_config_names
    set -l dir (__wgn_config_dir)
    for f in $dir/*.toml
        set -l n (string replace -r -- '^.*/(.*)\.toml$' '$1' $f)
        if string match -qr -- '^[a-zA-Z0-9_=+.-]{1,15}$' $n
            printf '%s\t%s\n' $n "config in $dir"
        end
    end
end

complete -c wgn -f

# Global options, before or after the command.
complete -c wgn -s v -l verbose -d 'Print every change made to the system'
complete -c wgn -s q -l quiet -d 'Print nothing but results and errors'
complete -c wgn -l config-dir -x -a '(__fish_complete_directories)' -d 'Directory of NAME.toml files'
complete -c wgn -s h -l help -d 'Print help and exit'
complete -c wgn -n __wgn_no_command -s V -l version -d 'Print the version and exit'

# Commands.
complete -c wgn -n __wgn_no_command -a up -d 'Bring the tunnel up, verify it and register the node'
complete -c wgn -n __wgn_no_command -a down -d 'Remove the tunnel interface and its run state'
complete -c wgn -n __wgn_no_command -a health -d 'Check the tunnel (monitoring-plugins exit codes)'
complete -c wgn -n __wgn_no_command -a register -d 'Register this node with the control plane'
complete -c wgn -n __wgn_no_command -a watch -d 'Bring the tunnel up and keep it up (systemd Type=notify)'
complete -c wgn -n __wgn_no_command -a enroll -d 'Join this node with an enrollment token'
complete -c wgn -n __wgn_no_command -a sync -d 'On a hub, make the peers the nodes the control plane knows'
complete -c wgn -n __wgn_no_command -a rotate -d 'Replace the node key without an outage'

# up
complete -c wgn -n '__wgn_using up watch' -l no-register -d 'Do not register with the control plane'
complete -c wgn -n '__wgn_using up' -l timeout -x -d 'Seconds for the whole of up'
complete -c wgn -n '__wgn_using up' -l max-retries -x -d 'Attempts after the first (0-1000)'
complete -c wgn -n '__wgn_using sync' -l watch -d 'Keep the peers in step: long-poll the change feed'
complete -c wgn -n '__wgn_using sync' -l prune -d 'Also remove peers that sync does not manage'
complete -c wgn -n '__wgn_using up down sync' -l dry-run -d 'Print the operations that would be made; change nothing'
complete -c wgn -n '__wgn_using up down register enroll sync rotate' -l json -d 'Print the result as one JSON object'

# health
complete -c wgn -n '__wgn_using health' -l all -d 'Check every config in the config directory'
complete -c wgn -n '__wgn_using health' -l format -x -a 'human json nagios prometheus' -d 'Output format'
complete -c wgn -n '__wgn_using health' -l textfile-dir -x -a '(__fish_complete_directories)' -d 'Also write DIR/wgn_NAME.prom for node_exporter'
complete -c wgn -n '__wgn_using health' -l stale-after -x -d 'Seconds after which a handshake is stale'
complete -c wgn -n '__wgn_using health' -l repair -d 'Bring a disconnected tunnel up, re-resolve a stale one, fail over or back between hubs'
complete -c wgn -n '__wgn_using health' -l report -d 'Also post the result to the control plane'
complete -c wgn -n '__wgn_using watch' -l no-report -d 'Do not post the health of every loop to the control plane'

# enroll
complete -c wgn -n '__wgn_using enroll' -l token-file -r -F -d 'File holding the enrollment token'
complete -c wgn -n '__wgn_using enroll' -l ca-file -r -F -d 'CA certificates for the control plane'
complete -c wgn -n '__wgn_using enroll' -l label -x -d 'A label KEY=VALUE for this node'
complete -c wgn -n '__wgn_using enroll' -l force -d 'Replace an existing NAME.toml and NAME.key'
complete -c wgn -n '__wgn_using enroll' -l up -d 'Then bring the tunnel up as wgn up does'

# The one NAME or FILE.
complete -c wgn -n __wgn_needs_config -a '(__wgn_config_names)'
complete -c wgn -n __wgn_needs_config -a '(__fish_complete_suffix .toml)'
