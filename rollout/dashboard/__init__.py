"""``rollout dashboard``: a local web page of the rollouts, served by the CLI on 127.0.0.1
with the user's own kubeconfig (RBAC decides what each person sees and may do).

``timeline`` turns a resource into chart data (pure), ``charts`` draws it as SVG
(pygal, on the server), ``pages`` writes the HTML, ``server`` serves it behind a token,
a Host and Origin check and a CSRF header, and patches commands exactly as the CLI does.
"""
