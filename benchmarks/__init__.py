"""fastem's asv suite (see asv.conf.json at the top of the repository)."""
