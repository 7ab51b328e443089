from django import template

register = template.Library()


@register.filter
def groups(tracker):
    """A grouped tracker ("ABCD-EFGH-…") as its groups, for markup that never breaks inside one."""
    return str(tracker or "").split("-")
