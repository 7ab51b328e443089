from django import template

from ballots import blind

register = template.Library()


@register.simple_tag
def padded_label(option, options):
    """{% padded_label option poll.options.all %}: see ballots/blind.py."""
    return blind.padded_label(option, list(options))


@register.filter
def option_value(option_id):
    return blind.option_value(option_id)
