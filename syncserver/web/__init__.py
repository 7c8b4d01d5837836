"""The office review pages: server-rendered Jinja2, plain CSS, no JavaScript needed."""
