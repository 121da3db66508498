#!/usr/bin/env python3
"""Write a realistic ~8.6 kB GitHub `issue_comment` delivery (the shape GitHub sends: issue, comment, repository,
sender, installation, each with their API URLs) and print its X-Hub-Signature-256 for the given secret."""
import hashlib, hmac, json, sys

out, secret = sys.argv[1], sys.argv[2].encode()
api, web = "https://api.github.com", "https://github.com"
repo = "octo-org/hello-world"

def user(login, uid):
    u = f"{api}/users/{login}"
    return {"login": login, "id": uid, "node_id": "MDQ6VXNlcjIxMDMxMDY3", "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
            "gravatar_id": "", "url": u, "html_url": f"{web}/{login}", "followers_url": f"{u}/followers",
            "following_url": f"{u}/following{{/other_user}}", "gists_url": f"{u}/gists{{/gist_id}}",
            "starred_url": f"{u}/starred{{/owner}}{{/repo}}", "subscriptions_url": f"{u}/subscriptions",
            "organizations_url": f"{u}/orgs", "repos_url": f"{u}/repos", "events_url": f"{u}/events{{/privacy}}",
            "received_events_url": f"{u}/received_events", "type": "User", "user_view_type": "public", "site_admin": False}

r = f"{api}/repos/{repo}"
repository = {"id": 186853002, "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=", "name": "hello-world", "full_name": repo,
    "private": False, "owner": user("octo-org", 21031067), "html_url": f"{web}/{repo}", "description": "A test repository",
    "fork": False, "url": r}
for k in ["forks", "keys", "collaborators", "teams", "hooks", "issue_events", "events", "assignees", "branches", "tags",
          "blobs", "git_tags", "git_refs", "trees", "statuses", "languages", "stargazers", "contributors", "subscribers",
          "subscription", "commits", "git_commits", "comments", "issue_comment", "contents", "compare", "merges",
          "archive", "downloads", "issues", "pulls", "milestones", "notifications", "labels", "releases", "deployments"][:18]:
    repository[f"{k}_url"] = f"{r}/{k}"
repository.update({"created_at": "2019-05-15T15:19:25Z", "updated_at": "2026-11-28T10:00:00Z", "pushed_at": "2026-11-28T10:00:00Z",
    "git_url": f"git://github.com/{repo}.git", "ssh_url": f"git@github.com:{repo}.git", "clone_url": f"{web}/{repo}.git",
    "svn_url": f"{web}/{repo}", "homepage": None, "size": 0, "stargazers_count": 0, "watchers_count": 0, "language": "Rust",
    "has_issues": True, "has_projects": True, "has_downloads": True, "has_wiki": True, "has_pages": False,
    "forks_count": 0, "archived": False, "disabled": False, "open_issues_count": 2, "license": None, "forks": 0,
    "open_issues": 2, "watchers": 0, "default_branch": "main", "visibility": "public"})

i = f"{r}/issues/1"
payload = {
    "action": "created",
    "issue": {"url": i, "repository_url": r, "labels_url": f"{i}/labels{{/name}}", "comments_url": f"{i}/comments",
        "events_url": f"{i}/events", "html_url": f"{web}/{repo}/issues/1", "id": 444500041, "node_id": "MDU6SXNzdWU0NDQ1MDAwNDE=",
        "number": 1, "title": "Spelling error in the README file", "user": user("codertocat", 21031067),
        "labels": [{"id": 1362934389, "node_id": "MDU6TGFiZWwxMzYyOTM0Mzg5", "url": f"{r}/labels/bug", "name": "bug",
                    "color": "d73a4a", "default": True, "description": "Something isn't working"}],
        "state": "open", "locked": False, "assignee": None, "assignees": [], "milestone": None, "comments": 1,
        "created_at": "2026-11-28T09:00:00Z", "updated_at": "2026-11-28T10:00:00Z", "closed_at": None,
        "author_association": "OWNER", "active_lock_reason": None,
        "body": "It looks like you accidently spelled 'commit' with two 't's.\n\nSteps: open README.md, search for 'comitt'.",
        "reactions": {"url": f"{i}/reactions", "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0, "confused": 0,
                      "heart": 0, "rocket": 0, "eyes": 0},
        "timeline_url": f"{i}/timeline", "performed_via_github_app": None, "state_reason": None},
    "comment": {"url": f"{r}/issues/comments/492700400", "html_url": f"{web}/{repo}/issues/1#issuecomment-492700400",
        "issue_url": i, "id": 492700400, "node_id": "MDEyOklzc3VlQ29tbWVudDQ5MjcwMDQwMA==", "user": user("codertocat", 21031067),
        "created_at": "2026-11-28T10:00:00Z", "updated_at": "2026-11-28T10:00:00Z", "author_association": "OWNER",
        "body": "@openhands please fix the spelling and add a check to CI so it does not happen again.",
        "reactions": {"url": f"{r}/issues/comments/492700400/reactions", "total_count": 0, "+1": 0, "-1": 0, "laugh": 0,
                      "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        "performed_via_github_app": None},
    "repository": repository,
    "sender": user("codertocat", 21031067),
    "installation": {"id": 2311213, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMjMxMTIxMw=="},
}
body = json.dumps(payload, separators=(",", ":"))
# Pad the issue body to the target size if needed (most of a real delivery is the URL fields above, which the
# webhook trims away; the issue body and comment are what the queue keeps).
pad = 8600 - len(body.encode())
if pad > 0:
    payload["issue"]["body"] += "\n" + ("Details of the report. " * (pad // 23 + 1))[:pad - 1]
    body = json.dumps(payload, separators=(",", ":"))
data = body.encode()
open(out, "wb").write(data)
print("sha256=" + hmac.new(secret, data, hashlib.sha256).hexdigest())
print(len(data), file=sys.stderr)
