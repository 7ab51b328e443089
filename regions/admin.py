from django.contrib import admin

from referendum.admin import ReadOnlyAdmin

from .models import Region


@admin.register(Region)
class RegionAdmin(ReadOnlyAdmin):
    list_display = ["slug", "name_en", "name_ru", "ordering"]
