# fish completion for hyperkvasir; written by completions/generate.py, do not edit.
# It calls `hyperkvasir` on each Tab, so that command must be on PATH.

complete --command hyperkvasir --no-files --arguments "(env _HYPERKVASIR_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=get-args _TYPER_COMPLETE_ARGS=(commandline -cp) hyperkvasir)" --condition "env _HYPERKVASIR_COMPLETE=complete_fish _TYPER_COMPLETE_FISH_ACTION=is-args _TYPER_COMPLETE_ARGS=(commandline -cp) hyperkvasir"
