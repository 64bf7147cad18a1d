# bash completion for hyperkvasir; written by completions/generate.py, do not edit.
# It calls `hyperkvasir` on each Tab, so that command must be on PATH.

_hyperkvasir_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _HYPERKVASIR_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _hyperkvasir_completion hyperkvasir
