"""Audit log query endpoint (admins only)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditAction
from audit.selectors import audit_event_list
from enllasd_web.pagination import LimitOffsetPagination
from enllasd_web.roles import IsAdmin


class AuditEventOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    user = serializers.IntegerField(source="user_id", allow_null=True)
    username = serializers.CharField()
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    method = serializers.CharField()
    path = serializers.CharField()
    status_code = serializers.IntegerField(allow_null=True)
    ip_hash = serializers.CharField()


class AuditEventListApi(APIView):
    permission_classes = [IsAdmin]

    class FilterSerializer(serializers.Serializer):
        user = serializers.CharField(required=False, max_length=150, help_text="Username.")
        object_type = serializers.CharField(required=False, max_length=64)
        object_id = serializers.CharField(required=False, max_length=64)
        action = serializers.ChoiceField(choices=AuditAction.choices, required=False)

    @extend_schema(parameters=[FilterSerializer], responses=AuditEventOutputSerializer(many=True))
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        values = filters.validated_data
        events = audit_event_list(username=values.get("user"), object_type=values.get("object_type"),
                                  object_id=values.get("object_id"), action=values.get("action"))
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventOutputSerializer(page, many=True).data)
